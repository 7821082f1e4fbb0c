"""How every stream Kairos creates is kept: its JetStream replica count, and creating or
updating it to the configuration this version wants.

One replica on a single nats-server (the default); 3 in a three-node cluster, so a
stream and every message it acknowledged outlive a node (``KAIROS_NATS_STREAM_REPLICAS``,
read once at start-up by the composition root). Kairos brings each stream to this
configuration whenever it starts, so the count is set here, not by hand on the server.
"""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import BadRequestError


class _Placement:
    """One setting for the process, like its one NATS connection."""

    replicas = 1


_PLACEMENT = _Placement()


def replicas() -> int:
    return _PLACEMENT.replicas


def use_replicas(count: int) -> None:
    """Keep every stream on ``count`` servers (1..5; JetStream wants an odd number)."""
    if not 1 <= count <= 5:
        raise ValueError(f"stream replicas must be 1 to 5, not {count}")
    _PLACEMENT.replicas = count


async def ensure(js: JetStreamContext, config: StreamConfig) -> None:
    """Create the stream, or bring an existing one to ``config`` (idempotent)."""
    config.num_replicas = _PLACEMENT.replicas
    try:
        await js.add_stream(config)
    except BadRequestError:
        await js.update_stream(config)

"""Publish domain events to the JetStream stream, deduplicated by event id."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js.api import StreamConfig
from nats.js.errors import BadRequestError

from adapters.nats.cloudevents import encode
from domain.events import DomainEvent

STREAM = "KAIROS_EVENTS"
# Inbound `scheduler.trigger.<tenant>` is request/reply and must not be captured by the
# stream (JetStream would answer the request with a PubAck), so list the event families.
SUBJECTS = ["scheduler.schedule.>", "scheduler.run.>", "scheduler.worker.>"]


class JetStreamPublisher:
    def __init__(
        self,
        nc: Client,
        *,
        stream: str = STREAM,
        duplicate_window: timedelta = timedelta(minutes=10),
        ack_timeout: float = 5.0,
    ) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self._stream = stream
        self._window = duplicate_window
        self._ack_timeout = ack_timeout

    async def ensure_stream(self) -> None:
        """Create the stream if missing (idempotent)."""
        config = StreamConfig(
            name=self._stream,
            subjects=SUBJECTS,
            duplicate_window=self._window.total_seconds(),
        )
        try:
            await self._js.add_stream(config)
        except BadRequestError:
            await self._js.update_stream(config)

    async def publish_many(self, events: Sequence[DomainEvent]) -> int:
        """Publish in order (pipelined); returns how many *leading* events were acked.

        Only an acknowledged prefix counts, so a failure mid-batch never lets a later
        event of an aggregate overtake an earlier one.
        """
        if not events:
            return 0
        futures = []
        try:
            for event in events:
                futures.append(
                    await self._js.publish_async(
                        event.subject, encode(event), headers={"Nats-Msg-Id": str(event.id)}
                    )
                )
        except (TimeoutError, NatsError, OSError):
            pass  # whatever was sent before the failure may still be acked below
        if futures:
            # One wait for the whole batch (not a timer per ack), then count the prefix.
            await asyncio.wait(futures, timeout=self._ack_timeout)
        acked = 0
        for future in futures:
            if not future.done() or future.cancelled() or future.exception() is not None:
                break
            acked += 1
        for future in futures[acked:]:
            future.cancel()
        return acked

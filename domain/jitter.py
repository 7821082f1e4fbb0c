"""Deterministic jitter (docs/semantics.md, *Jitter*).

The offset is a hash of (schedule id, nominal instant) scaled into ``[0, max_jitter]``,
so every replica, and every restart, computes the same dispatch time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from hashlib import blake2b

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
_MILLI = timedelta(milliseconds=1)


def jitter_offset(schedule_id: str, nominal_at: datetime, max_jitter: timedelta) -> timedelta:
    """The jitter of one fire, a whole number of milliseconds in ``[0, max_jitter]``."""
    span = max_jitter // _MILLI
    if span <= 0:
        return timedelta(0)
    micros = (nominal_at - _EPOCH) // _MICRO
    digest = blake2b(f"{schedule_id}|{micros}".encode(), digest_size=8).digest()
    return timedelta(milliseconds=int.from_bytes(digest, "big") % (span + 1))

"""JSON on the hot paths (outbox rows, events, run payloads), behind one narrow module.

orjson encodes datetimes (RFC 3339), UUIDs and enums natively and is several times
faster than the standard library on the per-event work of a burst; anything else falls
back to ``str`` as ``json.dumps(default=str)`` did.
"""

from __future__ import annotations

from typing import Any

import orjson


def _fallback(value: object) -> str:
    return str(value)


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_fallback)


def dumps_text(value: Any) -> str:
    return orjson.dumps(value, default=_fallback).decode()


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    return orjson.loads(data)

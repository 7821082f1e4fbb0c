"""Small request readers the routes share: an instant in a query, the version an
``If-Match`` names."""

from __future__ import annotations

from datetime import datetime

from domain.durations import parse_instant
from domain.errors import InvalidRequest, InvalidSchedule


def instant(value: str | None, field: str) -> datetime | None:
    """An instant in a query (``from``, ``since``): a bad one is ``INVALID_REQUEST``."""
    try:
        return parse_instant(value, field=field) if value else None
    except InvalidSchedule as exc:
        raise InvalidRequest(exc.message, field=exc.field, reason=exc.reason) from None


def version(if_match: str) -> int:
    """The version an ``If-Match`` ETag names (``"3"``, ``W/"3"``)."""
    try:
        found = int(if_match.strip().removeprefix("W/").strip('"')[:12])
    except ValueError:
        found = -1
    if not 0 < found < 2**31:
        raise InvalidRequest('If-Match must be a version ETag like "3"', field="If-Match")
    return found

"""Small request readers the routes share: the fields a body set, an instant in a query,
the version an ``If-Match`` names."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from domain.durations import parse_instant
from domain.errors import InvalidRequest


def doc(body: BaseModel | None) -> dict[str, Any]:
    """The fields the caller sent (a PATCH changes only those), as the JSON document
    the domain parsers (shared with ``kairos apply``) validate for meaning."""
    return {} if body is None else body.model_dump(exclude_unset=True, by_alias=True)


def instant(value: str | None, field: str) -> datetime | None:
    return parse_instant(value, field=field) if value else None


def version(if_match: str) -> int:
    """The version an ``If-Match`` ETag names (``"3"``, ``W/"3"``)."""
    try:
        found = int(if_match.strip().removeprefix("W/").strip('"')[:12])
    except ValueError:
        found = -1
    if not 0 < found < 2**31:
        raise InvalidRequest('If-Match must be a version ETag like "3"', field="If-Match")
    return found

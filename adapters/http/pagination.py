"""Lists and their cursors: every list answers ``{"items": [...], "next_cursor": str |
null}``; pass ``cursor`` back to get the next page. A cursor is opaque to callers: the
base64 of the keyset (the last item's instant and id)."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, TypeVar

from fastapi import Query

from domain.errors import InvalidRequest
from domain.ports import Keyset

T = TypeVar("T")
MAX_PAGE = 500
MAX_CURSOR = 200  # what encode gives out is about 100 characters

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
# Lookup by name: the objects with exactly this name, as one page without a cursor.
NameQuery = Annotated[
    str | None, Query(min_length=1, max_length=200, description="exactly this name")
]


# A list answer: its items (response models) and the cursor of the next page.
Page = dict[str, object]


def page(
    found: Sequence[T], limit: int, render: Callable[[T], object], key: Callable[[T], Keyset]
) -> Page:
    """A list answer; a full page carries the cursor of its last item."""
    last = key(found[-1]) if len(found) == limit else None
    return {"items": [render(item) for item in found], "next_cursor": encode(last)}


def encode(key: Keyset | None) -> str | None:
    if key is None:
        return None
    raw = json.dumps([key[0].isoformat(), str(key[1])]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(text: str | None) -> Keyset | None:
    """The keyset a cursor names; anything this API did not give out is refused."""
    if not text:
        return None
    refused = InvalidRequest("cursor is not one this API gave out", field="cursor")
    if len(text) > MAX_CURSOR:
        raise refused
    try:
        decoded = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if not isinstance(decoded, list) or len(decoded) != 2:
            raise refused
        at, id = decoded
        instant = datetime.fromisoformat(at)
        if instant.tzinfo is None:
            raise refused
        return instant, uuid.UUID(id)
    except (ValueError, TypeError, binascii.Error, RecursionError, AttributeError):
        raise refused from None

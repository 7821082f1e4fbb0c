"""The error envelope (docs/semantics.md, *Errors*) as a plain document, for every
transport: the REST API answers it as JSON, the NATS trigger responder replies with
it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "details": jsonable(details or {}),
            "timestamp": datetime.now(UTC).isoformat(),  # noqa: TID251 - a response stamp
        }
    }


def jsonable(details: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v if isinstance(v, (str, int, float, bool, type(None), list)) else str(v)
        for k, v in details.items()
    }

"""Shared by the API tests: the fake clock's start, and reading the error envelope."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ACME = {"Kairos-Tenant": "acme"}
GLOBEX = {"Kairos-Tenant": "globex"}


def error(response: httpx.Response) -> dict[str, Any]:
    """The error envelope's inner object, checked to have exactly its four keys."""
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details", "timestamp"}
    err: dict[str, Any] = body["error"]
    return err

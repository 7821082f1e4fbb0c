"""The per-adapter subject of the contract suites (builders are in tests/builders.py)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from domain.ports import Database


@dataclass
class Subject:
    db: Database  # tenant traffic (the API's role)
    system: Database  # the scheduler's role, for cross-tenant work
    committed_events: Callable[[], Awaitable[list[uuid.UUID]]]
    owner_dsn: str | None = None  # PostgreSQL: the owner, who sees every tenant's rows

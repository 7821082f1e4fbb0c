"""The in-memory fakes' rows (one copy per transaction) and what their repositories share:
tenant scoping, keyset pages and version checks."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from adapters.tenancy import require_tenant
from domain.audit import AuditEntry
from domain.backfill import Backfill
from domain.calendar import Calendar
from domain.errors import Conflict
from domain.events import DomainEvent
from domain.ids import BackfillId, CalendarId, EventId, JobId, RunId, ScheduleId, TenantId, WorkerId
from domain.job import Job
from domain.partitions import DEFAULT_PARTITIONS
from domain.ports import Keyset
from domain.run import Run
from domain.schedule import Schedule
from domain.tzdata import Replan
from domain.worker import Worker


@dataclass
class _Tables:
    jobs: dict[tuple[TenantId, JobId], Job] = field(default_factory=dict)
    schedules: dict[tuple[TenantId, ScheduleId], Schedule] = field(default_factory=dict)
    runs: dict[RunId, Run] = field(default_factory=dict)
    run_keys: set[tuple[TenantId, ScheduleId, datetime]] = field(default_factory=set)
    outbox: list[DomainEvent] = field(default_factory=list)
    event_ids: set[EventId] = field(default_factory=set)
    published: set[int] = field(default_factory=set)  # seqs (index + 1) relayed
    leases: dict[str, tuple[str, int, datetime]] = field(default_factory=dict)
    workers: dict[tuple[TenantId, WorkerId], Worker] = field(default_factory=dict)
    backfills: dict[BackfillId, Backfill] = field(default_factory=dict)
    calendars: dict[tuple[TenantId, CalendarId], Calendar] = field(default_factory=dict)
    audit: list[AuditEntry] = field(default_factory=list)
    tzdata: list[str] = field(default_factory=list)  # the recorded version, if any
    replans: dict[tuple[TenantId, ScheduleId, str], Replan] = field(default_factory=dict)
    # Scheduler replicas' membership: name -> (started, seen, expires).
    members: dict[str, tuple[datetime, datetime, datetime]] = field(default_factory=dict)
    partitions: int = DEFAULT_PARTITIONS  # the deployment's count (its migration's, in SQL)

    def copy(self) -> _Tables:
        return _Tables(
            dict(self.jobs),
            dict(self.schedules),
            dict(self.runs),
            set(self.run_keys),
            list(self.outbox),
            set(self.event_ids),
            set(self.published),
            dict(self.leases),
            dict(self.workers),
            dict(self.backfills),
            dict(self.calendars),
            list(self.audit),
            list(self.tzdata),
            dict(self.replans),
            dict(self.members),
            self.partitions,
        )


class _Scoped:
    def __init__(self, tables: _Tables, tenant_id: TenantId | None) -> None:
        self._t = tables
        self._tenant = tenant_id

    def _visible(self, owner: TenantId) -> bool:
        return self._tenant is None or owner == self._tenant

    def _guard(self, owner: TenantId) -> None:
        if self._tenant is not None:
            require_tenant(owner, self._tenant)


T = TypeVar("T")


def _page(
    items: list[T],
    key: Callable[[T], Keyset],
    after: Keyset | None,
    limit: int,
    *,
    descending: bool = False,
) -> list[T]:
    items.sort(key=key, reverse=descending)
    if after is not None:
        items = [i for i in items if (key(i) < after if descending else key(i) > after)]
    return items[:limit]


def _require_version(kind: str, id: uuid.UUID, current: int, expected: int) -> None:
    if current != expected:
        raise Conflict(
            f"{kind} {id} was changed concurrently (version {current}, expected {expected})",
            id=str(id),
            version=current,
            expected_version=expected,
        )

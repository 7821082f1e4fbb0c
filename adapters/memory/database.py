"""An in-memory Database for unit tests: same contract as the Postgres one.

A transaction works on a copy of the rows and publishes it on success; one transaction
at a time (a lock), which is stricter than Postgres and fine for tests. Jobs, schedules
and calendars are stored as they come back through the PostgreSQL adapter's codec
(``adapters.postgres.codec``), so a field the stored document forgets fails here too.
"Now" comes from the clock it is given (a FakeClock in unit tests), as Postgres's
``now()`` would.

This module holds the database and its unit of work; each fake repository lives in its
own module beside it.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime

from adapters.clock import SystemClock
from adapters.memory.audit import MemoryAudit
from adapters.memory.backfills import MemoryBackfills
from adapters.memory.calendars import MemoryCalendars
from adapters.memory.jobs import MemoryJobs
from adapters.memory.leases import MemoryLeaderLease, MemoryPresence
from adapters.memory.outbox import MemoryOutbox
from adapters.memory.runs import MemoryRuns
from adapters.memory.schedules import MemorySchedules
from adapters.memory.tables import _Tables
from adapters.memory.tzdata import MemoryZoneRules
from adapters.memory.usage import MemoryUsage
from adapters.memory.workers import MemoryWorkers
from domain.events import DomainEvent
from domain.ids import TenantId
from domain.partitions import DEFAULT_PARTITIONS
from domain.ports import Clock


class MemoryDatabase:
    def __init__(self, clock: Clock | None = None, *, partitions: int = DEFAULT_PARTITIONS) -> None:
        self._tables = _Tables(partitions=partitions)
        self._lock = asyncio.Lock()
        self._clock = clock or SystemClock()
        self._tokens = itertools.count(1)
        self._marks: dict[tuple[str, int], object] = {}  # leader presence marks

    @property
    def outbox(self) -> Sequence[DomainEvent]:
        """Committed events, in commit order (tests read what would be relayed)."""
        return tuple(self._tables.outbox)

    @asynccontextmanager
    async def transaction(self, tenant_id: TenantId) -> AsyncIterator[MemoryUnitOfWork]:
        async with self._scope(tenant_id) as work:
            yield work

    @asynccontextmanager
    async def system(self) -> AsyncIterator[MemoryUnitOfWork]:
        async with self._scope(None) as work:
            yield work

    @asynccontextmanager
    async def presence(self) -> AsyncIterator[MemoryPresence]:
        presence = MemoryPresence(self._marks, lambda: self._scope(None))
        try:
            yield presence
        finally:
            presence.close()

    @asynccontextmanager
    async def _scope(self, tenant_id: TenantId | None) -> AsyncIterator[MemoryUnitOfWork]:
        async with self._lock:
            work = self._tables.copy()
            yield MemoryUnitOfWork(work, tenant_id, self._clock, self._tokens)
            self._tables = work


class MemoryUnitOfWork:
    def __init__(
        self,
        tables: _Tables,
        tenant_id: TenantId | None,
        clock: Clock,
        tokens: Iterator[int],
    ) -> None:
        self.jobs = MemoryJobs(tables, tenant_id)
        self.schedules = MemorySchedules(tables, tenant_id)
        self.runs = MemoryRuns(tables, tenant_id, clock, tokens)
        self.outbox = MemoryOutbox(tables, tenant_id)
        self.leader = MemoryLeaderLease(tables, clock)
        self.workers = MemoryWorkers(tables, tenant_id)
        self.audit = MemoryAudit(tables, tenant_id)
        self.backfills = MemoryBackfills(tables, tenant_id)
        self.calendars = MemoryCalendars(tables, tenant_id)
        self.usage = MemoryUsage(tables, tenant_id)
        self.tzdata = MemoryZoneRules(tables, tenant_id)
        self._clock = clock

    async def now(self) -> datetime:
        return self._clock.now()

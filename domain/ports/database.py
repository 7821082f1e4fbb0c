"""The database and its unit of work: one transaction over every repository."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

from domain.ids import TenantId
from domain.ports.leadership import LeaderLease, LeaderPresence
from domain.ports.outbox import EventOutbox
from domain.ports.repositories import (
    AuditLog,
    BackfillRepository,
    CalendarRepository,
    JobRepository,
    ScheduleRepository,
    UsageReader,
    WorkerRepository,
    ZoneRulesLedger,
)
from domain.ports.runs import RunQueue


class UnitOfWork(Protocol):
    """One transaction: state changes and outbox rows commit together or not at all.
    Leaving the block normally commits; an exception rolls back."""

    # Read-only members: adapters may expose their concrete repositories (a mutable
    # Protocol attribute would be invariant and reject them).
    @property
    def schedules(self) -> ScheduleRepository: ...

    @property
    def jobs(self) -> JobRepository: ...

    @property
    def runs(self) -> RunQueue: ...

    @property
    def outbox(self) -> EventOutbox: ...

    @property
    def leader(self) -> LeaderLease: ...

    @property
    def usage(self) -> UsageReader: ...

    @property
    def backfills(self) -> BackfillRepository: ...

    @property
    def calendars(self) -> CalendarRepository: ...

    @property
    def workers(self) -> WorkerRepository: ...

    @property
    def audit(self) -> AuditLog: ...

    @property
    def tzdata(self) -> ZoneRulesLedger: ...

    async def now(self) -> datetime:
        """The database's "now": what every due decision is measured against."""
        ...


class Database(Protocol):
    def transaction(self, tenant_id: TenantId) -> AbstractAsyncContextManager[UnitOfWork]:
        """Open a unit of work for ``tenant_id``; nothing of another tenant is visible."""
        ...

    def system(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """A unit of work across tenants, for the scheduler's own loops (materialiser,
        rescuer, relay, built-in workers). Objects carry their tenant."""
        ...

    def presence(self) -> AbstractAsyncContextManager[LeaderPresence]:
        """A session of this process's own that lives as long as the block (or the
        process): the leadership loop's liveness marks."""
        ...

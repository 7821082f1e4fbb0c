"""The repositories of a unit of work: schedules, jobs, calendars, backfills, workers, the
audit trail, usage counts and the zone-rules ledger, all scoped to the transaction's
tenant (every tenant in a system transaction)."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from domain.audit import AuditEntry
from domain.backfill import Backfill
from domain.calendar import Calendar
from domain.ids import BackfillId, CalendarId, JobId, ScheduleId, TenantId, WorkerId
from domain.job import Job
from domain.schedule import Schedule, ScheduleState
from domain.tzdata import Replan
from domain.usage import TenantUsage
from domain.worker import Worker

# Keyset pagination: the sort key of the last item seen (a timestamp, then the id).
Keyset = tuple[datetime, uuid.UUID]


class ScheduleOrder(enum.StrEnum):
    NAME = "name"  # case-insensitive
    NEXT = "next"  # next fire; none last
    STATE = "state"  # then by name
    CREATED = "created"


@dataclass(frozen=True, slots=True)
class ScheduleSearch:
    """A page of the tenant's live schedules: ``text`` found in the name
    (case-insensitive) or equal to the id, in ``state``, sorted by ``order`` (then id),
    ``limit`` rows from ``offset``."""

    text: str = ""
    state: ScheduleState | None = None
    order: ScheduleOrder = ScheduleOrder.NAME
    descending: bool = False
    offset: int = 0
    limit: int = 50


class ScheduleRepository(Protocol):
    """Schedules of the transaction's tenant."""

    async def get(self, schedule_id: ScheduleId) -> Schedule:
        """Raises ``NotFound`` (also for another tenant's schedule)."""
        ...

    async def add(self, schedule: Schedule) -> None:
        """Raises ``Conflict`` when a live schedule of the tenant already has that name."""
        ...

    async def save(self, schedule: Schedule, *, expected_version: int) -> None:
        """Optimistic update; raises ``Conflict`` when the stored version differs and
        ``NotFound`` when there is no such schedule."""
        ...

    async def event_schedules(self) -> Sequence[Schedule]:
        """The tenant's enabled schedules with an EVENT trigger."""
        ...

    async def count_live(self) -> int:
        """The tenant's schedules that are not deleted (Kairos' own not counted)."""
        ...

    async def of_job(self, job_id: JobId) -> Sequence[Schedule]:
        """The job's enabled schedules, locked (pausing them with the job's target)."""
        ...

    async def by_name(self, name: str) -> Schedule:
        """The live (not deleted) schedule with that name; raises ``NotFound``."""
        ...

    async def using_job(self, job_id: JobId) -> Sequence[str]:
        """The names of the live (not deleted) schedules that run the job, sorted."""
        ...

    async def advance_many(self, changes: Sequence[tuple[Schedule, int]]) -> None:
        """Persist the progress of many schedules at once: (schedule, expected version).
        Only lifecycle fields are written (state, next fire, fire count, version,
        updated_at); raises ``Conflict`` when any stored version differs."""
        ...

    async def list(self, *, after: Keyset | None, limit: int) -> Sequence[Schedule]:
        """Live schedules by (created_at, id), starting after ``after``."""
        ...

    async def search(self, query: ScheduleSearch) -> tuple[Sequence[Schedule], int]:
        """The page of live schedules ``query`` asks for, and how many match in all."""
        ...

    async def next_due(self, partitions: Sequence[int]) -> datetime | None:
        """The earliest next fire of any enabled schedule in ``partitions`` (None:
        nothing scheduled there)."""
        ...

    async def due(
        self, until: datetime, limit: int, partitions: Sequence[int]
    ) -> Sequence[Schedule]:
        """Lock enabled schedules of ``partitions`` whose next fire is at or before
        ``until``, oldest first, skipping ones another transaction holds."""
        ...


class JobRepository(Protocol):
    """Jobs of the transaction's tenant."""

    async def get(self, job_id: JobId) -> Job:
        """Raises ``NotFound``."""
        ...

    async def add(self, job: Job) -> None:
        """Raises ``Conflict`` on a duplicate name within the tenant."""
        ...

    async def save(self, job: Job, *, expected_version: int) -> None:
        """Raises ``Conflict`` when the stored version differs, ``NotFound`` if absent."""
        ...

    async def by_name(self, name: str) -> Job:
        """Raises ``NotFound``."""
        ...

    async def delete(self, job_id: JobId, *, now: datetime) -> None:
        """Delete the job and its signing secrets: it is not found afterwards and its
        name is free (runs that name it stay). Raises ``NotFound``."""
        ...

    async def list(self, *, after: Keyset | None, limit: int) -> Sequence[Job]:
        """Jobs by (created_at, id), starting after ``after``."""
        ...


class BackfillRepository(Protocol):
    async def add(self, backfill: Backfill) -> None: ...

    async def get(self, backfill_id: BackfillId) -> Backfill:
        """Raises ``NotFound``."""
        ...


class CalendarRepository(Protocol):
    """Calendars of the transaction's tenant."""

    async def get(self, calendar_id: CalendarId) -> Calendar:
        """Raises ``NotFound``."""
        ...

    async def list(self, *, after: Keyset | None, limit: int) -> Sequence[Calendar]:
        """By (created_at, id), starting after ``after``."""
        ...

    async def add(self, calendar: Calendar) -> None:
        """Raises ``Conflict`` if the name is taken in the tenant."""
        ...

    async def save(self, calendar: Calendar, *, expected_version: int) -> None:
        """Replace the stored version ``expected_version``; ``Conflict`` if it moved on
        or the name is taken, ``NotFound`` if it is gone."""
        ...

    async def users(self, calendar_id: CalendarId) -> int:
        """How many schedules (not deleted) use the calendar."""
        ...

    async def delete(self, calendar_id: CalendarId) -> None:
        """Raises ``Conflict`` while any schedule (deleted ones included: their history
        names it) references it, ``NotFound`` if there is none."""
        ...


class WorkerRepository(Protocol):
    """Workers of the transaction's tenant (built-in pools belong to ``SYSTEM_TENANT``)."""

    async def get(self, worker_id: WorkerId, *, lock: bool = False) -> Worker:
        """Raises ``NotFound``."""
        ...

    async def save(self, worker: Worker) -> None:
        """Insert or replace (registration and every state change)."""
        ...

    async def list(self, *, after: Keyset | None, limit: int) -> Sequence[Worker]:
        """Workers in registration order, keyset-paginated by ``(registered_at, id)``."""
        ...

    async def silent(self, now: datetime, limit: int) -> Sequence[Worker]:
        """Lock workers not yet offline that missed their heartbeats as of ``now``,
        skipping rows another transaction holds."""
        ...


class AuditLog(Protocol):
    async def add(self, entry: AuditEntry) -> None: ...

    async def list(self, *, after: Keyset | None, limit: int) -> Sequence[AuditEntry]:
        """Newest first, keyset-paginated by ``(at, id)``."""
        ...


class UsageReader(Protocol):
    async def usage(self, since: datetime) -> Sequence[TenantUsage]:
        """Each visible tenant's usage (one tenant in a tenant's transaction, every
        tenant in a system one), by tenant id; ``ended`` counts runs ended since
        ``since``. Kairos' own system tenant is left out."""
        ...


class ZoneRulesLedger(Protocol):
    """Which tzdata the deployment planned with, and the schedules a change re-planned."""

    async def recorded(self) -> str | None:
        """The tzdata version the deployment's stored next fires were planned with
        (None before any was recorded)."""
        ...

    async def record(self, version: str, *, replica: str, now: datetime) -> None:
        """Record ``version`` as the one planned with (system transactions only)."""
        ...

    async def planned(
        self, after: tuple[TenantId, ScheduleId] | None, limit: int
    ) -> Sequence[tuple[Schedule, datetime | None]]:
        """Enabled and paused schedules with a next fire, every tenant, ordered by
        (tenant, id) after ``after``; each with its last materialised nominal time."""
        ...

    async def add(self, replans: Sequence[Replan]) -> None:
        """List re-planned schedules (one entry per schedule and target version)."""
        ...

    async def replans(self, *, limit: int) -> Sequence[Replan]:
        """Visible re-planned schedules, newest first."""
        ...

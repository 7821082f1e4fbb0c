"""An in-memory Database for unit tests: same contract as the Postgres one.

A transaction works on a copy of the tenant's rows and publishes it on success; one
transaction at a time (a lock), which is stricter than Postgres and fine for tests.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from adapters.documents import require_tenant
from domain.errors import Conflict, NotFound
from domain.events import DomainEvent
from domain.ids import EventId, JobId, ScheduleId, TenantId
from domain.job import Job
from domain.schedule import Schedule, ScheduleState


@dataclass
class _Tables:
    jobs: dict[tuple[TenantId, JobId], Job] = field(default_factory=dict)
    schedules: dict[tuple[TenantId, ScheduleId], Schedule] = field(default_factory=dict)
    outbox: list[DomainEvent] = field(default_factory=list)
    event_ids: set[EventId] = field(default_factory=set)

    def copy(self) -> _Tables:
        return _Tables(
            dict(self.jobs), dict(self.schedules), list(self.outbox), set(self.event_ids)
        )


class MemoryDatabase:
    def __init__(self) -> None:
        self._tables = _Tables()
        self._lock = asyncio.Lock()

    @property
    def outbox(self) -> Sequence[DomainEvent]:
        """Committed events, in commit order (tests read what would be relayed)."""
        return tuple(self._tables.outbox)

    @asynccontextmanager
    async def transaction(self, tenant_id: TenantId) -> AsyncIterator[MemoryUnitOfWork]:
        async with self._lock:
            work = self._tables.copy()
            yield MemoryUnitOfWork(work, tenant_id)
            self._tables = work


class MemoryUnitOfWork:
    def __init__(self, tables: _Tables, tenant_id: TenantId) -> None:
        self.jobs = MemoryJobs(tables, tenant_id)
        self.schedules = MemorySchedules(tables, tenant_id)
        self.outbox = MemoryOutbox(tables, tenant_id)


class MemoryJobs:
    def __init__(self, tables: _Tables, tenant_id: TenantId) -> None:
        self._t = tables
        self._tenant = tenant_id

    async def get(self, job_id: JobId) -> Job:
        found = self._t.jobs.get((self._tenant, job_id))
        if found is None:
            raise NotFound("job", str(job_id))
        return found

    async def add(self, job: Job) -> None:
        require_tenant(job.tenant_id, self._tenant)
        if any(j.name == job.name for (t, _), j in self._t.jobs.items() if t == self._tenant):
            raise Conflict(f"a job named {job.name!r} already exists", name=job.name)
        if (self._tenant, job.id) in self._t.jobs:
            raise Conflict(f"job {job.id} already exists", id=str(job.id))
        self._t.jobs[(self._tenant, job.id)] = job

    async def save(self, job: Job, *, expected_version: int) -> None:
        current = await self.get(job.id)
        _require_version("job", job.id, current.version, expected_version)
        if any(
            j.name == job.name and j.id != job.id
            for (t, _), j in self._t.jobs.items()
            if t == self._tenant
        ):
            raise Conflict(f"a job named {job.name!r} already exists", name=job.name)
        self._t.jobs[(self._tenant, job.id)] = job


class MemorySchedules:
    def __init__(self, tables: _Tables, tenant_id: TenantId) -> None:
        self._t = tables
        self._tenant = tenant_id

    def _live_name_taken(self, schedule: Schedule) -> bool:
        return schedule.state is not ScheduleState.DELETED and any(
            s.name == schedule.name and s.id != schedule.id and s.state is not ScheduleState.DELETED
            for (t, _), s in self._t.schedules.items()
            if t == self._tenant
        )

    async def get(self, schedule_id: ScheduleId) -> Schedule:
        found = self._t.schedules.get((self._tenant, schedule_id))
        if found is None:
            raise NotFound("schedule", str(schedule_id))
        return found

    async def by_name(self, name: str) -> Schedule:
        for (t, _), s in self._t.schedules.items():
            if t == self._tenant and s.name == name and s.state is not ScheduleState.DELETED:
                return s
        raise NotFound("schedule", name)

    async def add(self, schedule: Schedule) -> None:
        require_tenant(schedule.tenant_id, self._tenant)
        if self._live_name_taken(schedule):
            raise Conflict(f"a schedule named {schedule.name!r} already exists", name=schedule.name)
        if (self._tenant, schedule.job_id) not in self._t.jobs:
            raise NotFound("job", str(schedule.job_id))
        self._t.schedules[(self._tenant, schedule.id)] = schedule

    async def save(self, schedule: Schedule, *, expected_version: int) -> None:
        current = await self.get(schedule.id)
        _require_version("schedule", schedule.id, current.version, expected_version)
        if self._live_name_taken(schedule):
            raise Conflict(f"a schedule named {schedule.name!r} already exists", name=schedule.name)
        if (self._tenant, schedule.job_id) not in self._t.jobs:
            raise NotFound("job", str(schedule.job_id))
        self._t.schedules[(self._tenant, schedule.id)] = schedule


class MemoryOutbox:
    def __init__(self, tables: _Tables, tenant_id: TenantId) -> None:
        self._t = tables
        self._tenant = tenant_id

    async def append(self, events: Sequence[DomainEvent]) -> None:
        for event in events:
            if event.tenant_id != self._tenant:
                raise ValueError(f"event {event.id} belongs to tenant {event.tenant_id}")
        for event in events:
            if event.id not in self._t.event_ids:
                self._t.event_ids.add(event.id)
                self._t.outbox.append(event)


def _require_version(kind: str, id: uuid.UUID, current: int, expected: int) -> None:
    if current != expected:
        raise Conflict(
            f"{kind} {id} was changed concurrently (version {current}, expected {expected})",
            id=str(id),
            version=current,
            expected_version=expected,
        )

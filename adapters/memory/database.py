"""An in-memory Database for unit tests: same contract as the Postgres one.

A transaction works on a copy of the rows and publishes it on success; one transaction
at a time (a lock), which is stricter than Postgres and fine for tests. Jobs, schedules
and calendars are stored as they come back through the PostgreSQL adapter's codec
(``adapters.postgres.codec``), so a field the stored document forgets fails here too.
"Now" comes from the clock it is given (a FakeClock in unit tests), as Postgres's
``now()`` would.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from adapters.clock import SystemClock
from adapters.postgres.codec import reloaded_calendar, reloaded_job, reloaded_schedule
from adapters.tenancy import require_tenant
from domain.audit import AuditEntry
from domain.backfill import Backfill
from domain.calendar import Calendar
from domain.errors import Conflict, LeaseLost, NotFound, NotLeader
from domain.events import DomainEvent, traced
from domain.ids import (
    SYSTEM_TENANT,
    BackfillId,
    CalendarId,
    EventId,
    JobId,
    RunId,
    ScheduleId,
    TenantId,
    WorkerId,
)
from domain.job import Job, TargetKind
from domain.overlap import ACTIVE
from domain.ports import (
    Claimable,
    Clock,
    Keyset,
    LeaseState,
    OutboxRecord,
    RunFilter,
    RunStats,
    ScheduleOrder,
    ScheduleSearch,
)
from domain.run import TERMINAL, Run, RunStatus
from domain.schedule import Schedule, ScheduleState
from domain.triggers import EventTrigger
from domain.tzdata import Replan
from domain.usage import TenantUsage
from domain.worker import Worker, WorkerState

_CLAIMABLE = (RunStatus.PENDING, RunStatus.SCHEDULED)


@dataclass
class _Tables:
    jobs: dict[tuple[TenantId, JobId], Job] = field(default_factory=dict)
    schedules: dict[tuple[TenantId, ScheduleId], Schedule] = field(default_factory=dict)
    runs: dict[RunId, Run] = field(default_factory=dict)
    run_keys: set[tuple[TenantId, ScheduleId, datetime]] = field(default_factory=set)
    outbox: list[DomainEvent] = field(default_factory=list)
    event_ids: set[EventId] = field(default_factory=set)
    published: int = 0  # events before this index were relayed
    leases: dict[str, tuple[str, int, datetime]] = field(default_factory=dict)
    workers: dict[tuple[TenantId, WorkerId], Worker] = field(default_factory=dict)
    backfills: dict[BackfillId, Backfill] = field(default_factory=dict)
    calendars: dict[tuple[TenantId, CalendarId], Calendar] = field(default_factory=dict)
    audit: list[AuditEntry] = field(default_factory=list)
    tzdata: list[str] = field(default_factory=list)  # the recorded version, if any
    replans: dict[tuple[TenantId, ScheduleId, str], Replan] = field(default_factory=dict)

    def copy(self) -> _Tables:
        return _Tables(
            dict(self.jobs),
            dict(self.schedules),
            dict(self.runs),
            set(self.run_keys),
            list(self.outbox),
            set(self.event_ids),
            self.published,
            dict(self.leases),
            dict(self.workers),
            dict(self.backfills),
            dict(self.calendars),
            list(self.audit),
            list(self.tzdata),
            dict(self.replans),
        )


class MemoryDatabase:
    def __init__(self, clock: Clock | None = None) -> None:
        self._tables = _Tables()
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


class MemoryLeaderLease:
    """One transaction at a time, so nothing here ever waits; the PostgreSQL adapter's
    locking is what the contract's real-server tests pin."""

    def __init__(self, tables: _Tables, clock: Clock) -> None:
        self._t = tables
        self._clock = clock

    def _live(self, name: str, holder: str, epoch: int) -> bool:
        lease = self._t.leases.get(name)
        return lease is not None and lease[:2] == (holder, epoch) and lease[2] > self._clock.now()

    async def read(self, name: str) -> LeaseState | None:
        lease = self._t.leases.get(name)
        if lease is None:
            return None
        return LeaseState(lease[0], lease[1], lease[2] > self._clock.now())

    async def renew(self, name: str, holder: str, epoch: int, ttl: timedelta) -> bool:
        if not self._live(name, holder, epoch):
            return False
        self._t.leases[name] = (holder, epoch, self._clock.now() + ttl)
        return True

    async def take(
        self, name: str, holder: str, ttl: timedelta, *, seen: int | None, vacated: bool = False
    ) -> int | None:
        now = self._clock.now()
        lease = self._t.leases.get(name)
        if seen is None:
            if lease is not None:
                return None
            epoch = 1
        else:
            if lease is None or lease[1] != seen or (lease[2] > now and not vacated):
                return None
            epoch = seen + 1
        self._t.leases[name] = (holder, epoch, now + ttl)
        return epoch

    async def release(self, name: str, holder: str, epoch: int) -> None:
        if self._live(name, holder, epoch):
            self._t.leases[name] = (holder, epoch, self._clock.now())

    async def current(self, name: str) -> tuple[str, int] | None:
        lease = self._t.leases.get(name)
        if lease is None or lease[2] <= self._clock.now():
            return None
        return lease[0], lease[1]

    async def check(self, name: str, holder: str, epoch: int) -> None:
        if not self._live(name, holder, epoch):
            raise NotLeader(holder, epoch)

    async def fence(self, name: str, holder: str, epoch: int) -> None:
        await self.check(name, holder, epoch)


class MemoryPresence:
    """Marks in the database object (not in its transactional tables): a presence's
    marks go when its block ends, as a session's advisory locks do."""

    def __init__(
        self,
        marks: dict[tuple[str, int], object],
        scope: Callable[[], AbstractAsyncContextManager[MemoryUnitOfWork]],
    ) -> None:
        self._marks = marks
        self._scope = scope
        self._me = object()

    @asynccontextmanager
    async def lease(self) -> AsyncIterator[MemoryLeaderLease]:
        async with self._scope() as work:
            yield work.leader

    async def hold(self, name: str, epoch: int) -> bool:
        owner = self._marks.setdefault((name, epoch), self._me)
        return owner is self._me

    async def vacant(self, name: str, epoch: int) -> bool:
        return (name, epoch) not in self._marks

    async def drop(self, name: str, epoch: int) -> None:
        if self._marks.get((name, epoch)) is self._me:
            del self._marks[(name, epoch)]

    def close(self) -> None:
        for key in [k for k, owner in self._marks.items() if owner is self._me]:
            del self._marks[key]


class _Scoped:
    def __init__(self, tables: _Tables, tenant_id: TenantId | None) -> None:
        self._t = tables
        self._tenant = tenant_id

    def _visible(self, owner: TenantId) -> bool:
        return self._tenant is None or owner == self._tenant

    def _guard(self, owner: TenantId) -> None:
        if self._tenant is not None:
            require_tenant(owner, self._tenant)


class MemoryJobs(_Scoped):
    def _find(self, job_id: JobId) -> Job | None:
        for (tenant, jid), job in self._t.jobs.items():
            if jid == job_id and self._visible(tenant):
                return job
        return None

    async def get(self, job_id: JobId) -> Job:
        found = self._find(job_id)
        if found is None:
            raise NotFound("job", str(job_id))
        return found

    def _name_taken(self, job: Job) -> bool:
        return any(
            j.name == job.name and j.id != job.id
            for (t, _), j in self._t.jobs.items()
            if t == job.tenant_id
        )

    async def add(self, job: Job) -> None:
        self._guard(job.tenant_id)
        if self._name_taken(job):
            raise Conflict(f"a job named {job.name!r} already exists", name=job.name)
        if (job.tenant_id, job.id) in self._t.jobs:
            raise Conflict(f"job {job.id} already exists", id=str(job.id))
        self._t.jobs[(job.tenant_id, job.id)] = reloaded_job(job)

    async def by_name(self, name: str) -> Job:
        for (tenant, _), job in self._t.jobs.items():
            if job.name == name and self._visible(tenant):
                return job
        raise NotFound("job", name)

    async def list(self, *, after: Keyset | None, limit: int) -> list[Job]:
        jobs = [j for (t, _), j in self._t.jobs.items() if self._visible(t)]
        return _page(jobs, lambda j: (j.created_at, j.id), after, limit)

    async def save(self, job: Job, *, expected_version: int) -> None:
        self._guard(job.tenant_id)
        current = await self.get(job.id)
        _require_version("job", job.id, current.version, expected_version)
        if self._name_taken(job):
            raise Conflict(f"a job named {job.name!r} already exists", name=job.name)
        self._t.jobs[(job.tenant_id, job.id)] = reloaded_job(job)


class MemorySchedules(_Scoped):
    def _live_name_taken(self, schedule: Schedule) -> bool:
        return schedule.state is not ScheduleState.DELETED and any(
            s.name == schedule.name and s.id != schedule.id and s.state is not ScheduleState.DELETED
            for (t, _), s in self._t.schedules.items()
            if t == schedule.tenant_id
        )

    async def event_schedules(self) -> list[Schedule]:
        return [
            s
            for (t, _), s in self._t.schedules.items()
            if self._visible(t)
            and s.state is ScheduleState.ENABLED
            and isinstance(s.timing.trigger, EventTrigger)
        ]

    async def get(self, schedule_id: ScheduleId) -> Schedule:
        for (tenant, sid), schedule in self._t.schedules.items():
            if sid == schedule_id and self._visible(tenant):
                return schedule
        raise NotFound("schedule", str(schedule_id))

    async def next_due(self) -> datetime | None:
        times = [
            s.next_fire_at
            for (t, _), s in self._t.schedules.items()
            if self._visible(t) and s.state is ScheduleState.ENABLED and s.next_fire_at
        ]
        return min(times, default=None)

    async def due(self, until: datetime, limit: int) -> list[Schedule]:
        found = [
            s
            for (t, _), s in self._t.schedules.items()
            if self._visible(t)
            and s.state is ScheduleState.ENABLED
            and s.next_fire_at is not None
            and s.next_fire_at <= until
        ]
        found.sort(key=lambda s: s.next_fire_at or until)
        return found[:limit]

    async def count_live(self) -> int:
        return sum(
            1
            for (t, _), s in self._t.schedules.items()
            if self._visible(t) and s.state is not ScheduleState.DELETED and not s.system
        )

    async def of_job(self, job_id: JobId) -> list[Schedule]:
        return [
            s
            for (t, _), s in self._t.schedules.items()
            if self._visible(t) and s.job_id == job_id and s.state is ScheduleState.ENABLED
        ]

    async def by_name(self, name: str) -> Schedule:
        for (t, _), s in self._t.schedules.items():
            if self._visible(t) and s.name == name and s.state is not ScheduleState.DELETED:
                return s
        raise NotFound("schedule", name)

    async def advance_many(self, changes: Sequence[tuple[Schedule, int]]) -> None:
        for schedule, expected in changes:
            current = await self.get(schedule.id)
            _require_version("schedule", schedule.id, current.version, expected)
        for schedule, _ in changes:
            self._guard(schedule.tenant_id)
            current = self._t.schedules[(schedule.tenant_id, schedule.id)]
            self._t.schedules[(schedule.tenant_id, schedule.id)] = replace(
                current,
                state=schedule.state,
                next_fire_at=schedule.next_fire_at,
                fire_count=schedule.fire_count,
                version=schedule.version,
                updated_at=schedule.updated_at,
            )

    async def list(self, *, after: Keyset | None, limit: int) -> list[Schedule]:
        live = [
            s
            for (t, _), s in self._t.schedules.items()
            if self._visible(t) and s.state is not ScheduleState.DELETED
        ]
        return _page(live, lambda s: (s.created_at, s.id), after, limit)

    async def search(self, query: ScheduleSearch) -> tuple[Sequence[Schedule], int]:
        text = query.text[:200].lower()
        found = [
            s
            for (t, _), s in self._t.schedules.items()
            if self._visible(t)
            and s.state is not ScheduleState.DELETED
            and (query.state is None or s.state is query.state)
            and (not text or text in s.name.lower() or str(s.id) == text)
        ]
        keys: dict[ScheduleOrder, Callable[[Schedule], Any]] = {
            ScheduleOrder.NAME: lambda s: (s.name.lower(), s.id),
            ScheduleOrder.STATE: lambda s: (s.state.value, s.name.lower(), s.id),
            ScheduleOrder.CREATED: lambda s: (s.created_at, s.id),
        }
        if query.order is ScheduleOrder.NEXT:
            dated = sorted(
                (s for s in found if s.next_fire_at is not None),
                key=lambda s: (s.next_fire_at, s.id),
                reverse=query.descending,
            )
            undated = sorted(
                (s for s in found if s.next_fire_at is None),
                key=lambda s: s.id,
                reverse=query.descending,
            )
            ordered = dated + undated
        else:
            ordered = sorted(found, key=keys[query.order], reverse=query.descending)
        return ordered[query.offset : query.offset + query.limit], len(found)

    def _check(self, schedule: Schedule) -> None:
        self._guard(schedule.tenant_id)
        if self._live_name_taken(schedule):
            raise Conflict(f"a schedule named {schedule.name!r} already exists", name=schedule.name)
        if (schedule.tenant_id, schedule.job_id) not in self._t.jobs:
            raise NotFound("job", str(schedule.job_id))

    async def add(self, schedule: Schedule) -> None:
        self._check(schedule)
        self._t.schedules[(schedule.tenant_id, schedule.id)] = reloaded_schedule(schedule)

    async def save(self, schedule: Schedule, *, expected_version: int) -> None:
        current = await self.get(schedule.id)
        _require_version("schedule", schedule.id, current.version, expected_version)
        self._check(schedule)
        self._t.schedules[(schedule.tenant_id, schedule.id)] = reloaded_schedule(schedule)


class MemoryRuns(_Scoped):
    def __init__(
        self, tables: _Tables, tenant_id: TenantId | None, clock: Clock, tokens: Iterator[int]
    ) -> None:
        super().__init__(tables, tenant_id)
        self._clock = clock
        self._tokens = tokens

    async def add_many(self, runs: Sequence[Run]) -> int:
        for run in runs:
            self._guard(run.tenant_id)
        new = 0
        for run in runs:
            key = (run.tenant_id, run.schedule_id, run.nominal_at)
            if key in self._t.run_keys or run.id in self._t.runs:
                continue
            self._t.run_keys.add(key)
            self._t.runs[run.id] = run
            new += 1
        return new

    async def get(self, run_id: RunId, *, lock: bool = False) -> Run:
        run = self._t.runs.get(run_id)
        if run is None or not self._visible(run.tenant_id):
            raise NotFound("run", str(run_id))
        return run

    async def get_many(
        self, run_ids: Sequence[RunId], *, lock: bool = False, current_attempt: bool = False
    ) -> list[Run]:
        found = [self._t.runs.get(run_id) for run_id in sorted(set(run_ids), key=str)]
        return [
            replace(r, attempts=r.attempts[-1:] if current_attempt and r.attempt else ())
            for r in found
            if r and self._visible(r.tenant_id)
        ]

    async def list(self, where: RunFilter, *, after: Keyset | None, limit: int) -> list[Run]:
        def matches(r: Run) -> bool:
            return (
                self._visible(r.tenant_id)
                and where.schedule_id in (None, r.schedule_id)
                and where.job_id in (None, r.job_id)
                and (not where.statuses or r.status in where.statuses)
                and (where.nominal_from is None or r.nominal_at >= where.nominal_from)
                and (where.nominal_to is None or r.nominal_at < where.nominal_to)
            )

        found = [replace(r, attempts=()) for r in self._t.runs.values() if matches(r)]
        return _page(found, lambda r: (r.nominal_at, r.id), after, limit, descending=True)

    async def lock_claimable(
        self, capabilities: frozenset[str], limit: int, *, max_running: int | None = None
    ) -> Claimable:
        now = self._clock.now()
        running: Counter[tuple[TenantId, JobId]] = Counter(
            (r.tenant_id, r.job_id) for r in self._t.runs.values() if r.status is RunStatus.RUNNING
        )
        by_tenant: Counter[TenantId] = Counter(tenant for tenant, _ in running.elements())

        def claimable(r: Run) -> bool:
            if r.status not in _CLAIMABLE or r.capability not in capabilities:
                return False
            if r.available_at > now or not self._visible(r.tenant_id):
                return False
            capped = max_running is not None and r.capability != TargetKind.SYSTEM.value
            if capped and by_tenant[r.tenant_id] >= (max_running or 0):
                return False
            if r.buffered and any(
                e.tenant_id == r.tenant_id
                and e.schedule_id == r.schedule_id
                and e.nominal_at < r.nominal_at
                and e.status in ACTIVE
                for e in self._t.runs.values()
            ):
                return False
            job = self._t.jobs.get((r.tenant_id, r.job_id))
            limit_ = job.max_concurrency if job else None
            return limit_ is None or running[(r.tenant_id, r.job_id)] < limit_

        due = sorted(
            (r for r in self._t.runs.values() if claimable(r)),
            key=lambda r: (-int(r.priority), r.available_at),
        )[:limit]
        # As in Postgres, a claim sees no attempt history.
        return Claimable(now=now, runs=[(replace(r, attempts=()), next(self._tokens)) for r in due])

    async def active(
        self, keys: Sequence[tuple[TenantId, ScheduleId]]
    ) -> Mapping[ScheduleId, Sequence[Run]]:
        wanted = set(keys)
        found: dict[ScheduleId, list[Run]] = {}
        for run in sorted(self._t.runs.values(), key=lambda r: r.nominal_at):
            key = (run.tenant_id, run.schedule_id)
            if run.status in ACTIVE and key in wanted and self._visible(run.tenant_id):
                found.setdefault(run.schedule_id, []).append(replace(run, attempts=()))
        return found

    async def running_counts(
        self, keys: Sequence[tuple[TenantId, JobId]], *, lock: bool = False
    ) -> dict[JobId, int]:
        wanted = set(keys)
        counts: Counter[JobId] = Counter(
            r.job_id
            for r in self._t.runs.values()
            if r.status is RunStatus.RUNNING and (r.tenant_id, r.job_id) in wanted
        )
        return dict(counts)

    async def running_by_tenant(
        self, tenants: Sequence[TenantId], *, lock: bool = False
    ) -> dict[TenantId, int]:
        wanted = set(tenants)
        counts: Counter[TenantId] = Counter(
            r.tenant_id
            for r in self._t.runs.values()
            if r.status is RunStatus.RUNNING and r.tenant_id in wanted
        )
        return dict(counts)

    async def at_nominals(
        self, schedule_id: ScheduleId, nominals: Sequence[datetime]
    ) -> Sequence[Run]:
        wanted = set(nominals)
        return [
            replace(r, attempts=())
            for r in self._t.runs.values()
            if r.schedule_id == schedule_id
            and r.nominal_at in wanted
            and self._visible(r.tenant_id)
        ]

    async def rearm_many(self, runs: Sequence[Run]) -> None:
        for run in runs:
            self._guard(run.tenant_id)
            stored = self._t.runs.get(run.id)
            if stored is not None and stored.status in (RunStatus.MISSED, RunStatus.SKIPPED):
                self._t.runs[run.id] = replace(run, attempts=stored.attempts)

    async def stats(self, schedule_id: ScheduleId | None, since: datetime) -> RunStats:
        runs = [
            r
            for r in self._t.runs.values()
            if self._visible(r.tenant_id)
            and (schedule_id is None or r.schedule_id == schedule_id)
            and r.nominal_at >= since
        ]
        durations = [
            d.total_seconds() for r in runs for a in r.attempts if (d := a.duration) is not None
        ]
        lateness = [
            (a.started_at - r.nominal_at).total_seconds()
            for r in runs
            for a in r.attempts
            if a.number == 1
        ]
        return RunStats(
            counts=dict(Counter(r.status.value for r in runs)),
            duration_p50=_percentile(durations, 0.5),
            duration_p95=_percentile(durations, 0.95),
            lateness_p50=_percentile(lateness, 0.5),
            lateness_p95=_percentile(lateness, 0.95),
        )

    async def backfill_progress(self, backfill_id: BackfillId) -> Mapping[str, int]:
        return dict(
            Counter(
                r.status.value
                for r in self._t.runs.values()
                if r.backfill_id == backfill_id and self._visible(r.tenant_id)
            )
        )

    async def purge(self, *, older_than: datetime | None, keep_last: int | None, limit: int) -> int:
        ended: dict[tuple[TenantId, ScheduleId], list[Run]] = {}
        for run in self._t.runs.values():
            if run.status in TERMINAL and self._visible(run.tenant_id):
                ended.setdefault((run.tenant_id, run.schedule_id), []).append(run)
        doomed = []
        for runs in ended.values():
            runs.sort(key=lambda r: r.nominal_at, reverse=True)
            for newest, run in enumerate(runs, start=1):
                old = older_than is None or run.nominal_at < older_than
                beyond = keep_last is None or newest > keep_last
                if old and beyond:
                    doomed.append(run)
        for run in doomed[:limit]:
            del self._t.runs[run.id]
            self._t.run_keys.discard((run.tenant_id, run.schedule_id, run.nominal_at))
        return min(len(doomed), limit)

    async def depth(self) -> dict[tuple[str, str], int]:
        active = (RunStatus.WAITING, RunStatus.SCHEDULED, RunStatus.PENDING, RunStatus.RUNNING)
        found: dict[tuple[str, str], int] = {}
        for r in self._t.runs.values():
            if self._visible(r.tenant_id) and r.status in active:
                key = (r.status.value, r.priority.name.lower())
                found[key] = found.get(key, 0) + 1
        return found

    async def held_by(self, worker_id: WorkerId) -> int:
        return sum(
            1
            for r in self._t.runs.values()
            if r.worker_id == worker_id and r.status is RunStatus.RUNNING
        )

    async def lock_waiting(self, limit: int) -> Sequence[Run]:
        waiting = [
            replace(r, attempts=())
            for r in self._t.runs.values()
            if r.status is RunStatus.WAITING and self._visible(r.tenant_id)
        ]
        return sorted(waiting, key=lambda r: r.nominal_at)[:limit]

    async def lock_expired(self, limit: int) -> Claimable:
        now = self._clock.now()
        expired = [
            r
            for r in self._t.runs.values()
            if self._visible(r.tenant_id) and r.expired(now) is not None
        ]
        expired.sort(key=lambda r: r.lease_until or now)
        return Claimable(now=now, runs=[(r, r.lease_token) for r in expired[:limit]])

    async def save_many(self, runs: Sequence[Run]) -> None:
        for run in runs:
            self._guard(run.tenant_id)
            stored = self._t.runs.get(run.id)
            if stored is None or not self._visible(stored.tenant_id):
                raise NotFound("run", str(run.id))
            if stored.lease_token > run.lease_token:
                raise LeaseLost(str(run.id), "a newer lease was written meanwhile")
        for run in runs:
            stored = self._t.runs[run.id]
            history = {a.number: a for a in stored.attempts}
            history.update({a.number: a for a in run.attempts})
            self._t.runs[run.id] = replace(run, attempts=tuple(history[n] for n in sorted(history)))


class MemoryCalendars(_Scoped):
    def _name_taken(self, calendar: Calendar) -> bool:
        return any(
            c.name == calendar.name and c.id != calendar.id
            for (t, _), c in self._t.calendars.items()
            if t == calendar.tenant_id
        )

    async def get(self, calendar_id: CalendarId) -> Calendar:
        for (tenant, cid), calendar in self._t.calendars.items():
            if cid == calendar_id and self._visible(tenant):
                return calendar
        raise NotFound("calendar", str(calendar_id))

    async def list(self, *, after: Keyset | None, limit: int) -> list[Calendar]:
        found = [c for (t, _), c in self._t.calendars.items() if self._visible(t)]
        return _page(found, lambda c: (c.created_at, c.id), after, limit)

    async def add(self, calendar: Calendar) -> None:
        self._guard(calendar.tenant_id)
        if self._name_taken(calendar):
            raise Conflict(f"a calendar named {calendar.name!r} already exists", name=calendar.name)
        self._t.calendars[(calendar.tenant_id, calendar.id)] = reloaded_calendar(calendar)

    async def save(self, calendar: Calendar, *, expected_version: int) -> None:
        self._guard(calendar.tenant_id)
        current = await self.get(calendar.id)
        _require_version("calendar", calendar.id, current.version, expected_version)
        if self._name_taken(calendar):
            raise Conflict(f"a calendar named {calendar.name!r} already exists", name=calendar.name)
        self._t.calendars[(calendar.tenant_id, calendar.id)] = reloaded_calendar(calendar)

    async def users(self, calendar_id: CalendarId) -> int:
        return sum(
            1
            for s in self._t.schedules.values()
            if s.timing.calendar_id == calendar_id and s.state is not ScheduleState.DELETED
        )

    async def delete(self, calendar_id: CalendarId) -> None:
        calendar = await self.get(calendar_id)
        if any(s.timing.calendar_id == calendar_id for s in self._t.schedules.values()):
            raise Conflict(
                "the calendar is referenced by schedules (deleted ones keep their history)",
                calendar_id=str(calendar_id),
            )
        del self._t.calendars[(calendar.tenant_id, calendar_id)]


class MemoryBackfills(_Scoped):
    async def add(self, backfill: Backfill) -> None:
        self._guard(backfill.request.tenant_id)
        if backfill.id in self._t.backfills:
            raise Conflict(f"backfill {backfill.id} exists")
        self._t.backfills[backfill.id] = backfill

    async def get(self, backfill_id: BackfillId) -> Backfill:
        found = self._t.backfills.get(backfill_id)
        if found is None or not self._visible(found.request.tenant_id):
            raise NotFound("backfill", str(backfill_id))
        return found


class MemoryWorkers(_Scoped):
    async def get(self, worker_id: WorkerId, *, lock: bool = False) -> Worker:
        for (tenant, wid), worker in self._t.workers.items():
            if wid == worker_id and self._visible(tenant):
                return worker
        raise NotFound("worker", str(worker_id))

    async def save(self, worker: Worker) -> None:
        self._guard(worker.tenant_id)
        self._t.workers[(worker.tenant_id, worker.id)] = worker

    async def list(self, *, after: Keyset | None, limit: int) -> list[Worker]:
        found = sorted(
            (w for (t, _), w in self._t.workers.items() if self._visible(t)),
            key=lambda w: (w.registered_at, str(w.id)),
        )
        if after is not None:
            found = [w for w in found if (w.registered_at, str(w.id)) > (after[0], str(after[1]))]
        return found[:limit]

    async def silent(self, now: datetime, limit: int) -> Sequence[Worker]:
        found = [
            w
            for (t, _), w in self._t.workers.items()
            if self._visible(t) and w.state is not WorkerState.OFFLINE and w.silent(now)
        ]
        found.sort(key=lambda w: w.last_heartbeat_at)
        return found[:limit]


class MemoryUsage(_Scoped):
    async def usage(self, since: datetime) -> list[TenantUsage]:
        found: dict[TenantId, dict[str, Any]] = {}

        def row(tenant: TenantId) -> dict[str, Any]:
            return found.setdefault(tenant, {"ended": Counter()})

        def count(tenant: TenantId, key: str) -> None:
            r = row(tenant)
            r[key] = r.get(key, 0) + 1

        for (tenant, _), schedule in self._t.schedules.items():
            if self._visible(tenant) and not schedule.system:
                row(tenant)
                if schedule.state is not ScheduleState.DELETED:
                    count(tenant, "schedules")
                if schedule.state is ScheduleState.ENABLED:
                    count(tenant, "enabled")
        for (tenant, _), job in self._t.jobs.items():
            if self._visible(tenant) and job.target.kind is not TargetKind.SYSTEM:
                count(tenant, "jobs")
        for run in self._t.runs.values():
            if not self._visible(run.tenant_id):
                continue
            if run.status is RunStatus.RUNNING:
                count(run.tenant_id, "running")
            elif run.status in {RunStatus.SCHEDULED, RunStatus.PENDING}:
                count(run.tenant_id, "queued")
            elif run.status is RunStatus.WAITING:
                count(run.tenant_id, "waiting")
            elif run.updated_at >= since:
                row(run.tenant_id)["ended"][run.status.value] += 1
        for worker in self._t.workers.values():
            if self._visible(worker.tenant_id) and worker.state is not WorkerState.OFFLINE:
                count(worker.tenant_id, "workers")
        return [
            TenantUsage(tenant_id=tenant, **{**fields, "ended": dict(fields["ended"])})
            for tenant, fields in sorted(found.items())
            if tenant != SYSTEM_TENANT
        ]


class MemoryZoneRules(_Scoped):
    async def recorded(self) -> str | None:
        return self._t.tzdata[0] if self._t.tzdata else None

    async def record(self, version: str, *, replica: str, now: datetime) -> None:
        assert self._tenant is None, "the deployment's tzdata is recorded by the system"
        self._t.tzdata[:] = [version]

    async def planned(
        self, after: tuple[TenantId, ScheduleId] | None, limit: int
    ) -> list[tuple[Schedule, datetime | None]]:
        live = (ScheduleState.ENABLED, ScheduleState.PAUSED)
        found = sorted(
            (key, s)
            for key, s in self._t.schedules.items()
            if self._visible(key[0]) and s.state in live and s.next_fire_at is not None
            if after is None or (key[0], str(key[1])) > (after[0], str(after[1]))
        )
        out: list[tuple[Schedule, datetime | None]] = []
        for (tenant, schedule_id), schedule in found[:limit]:
            nominal = [
                r.nominal_at
                for r in self._t.runs.values()
                if r.tenant_id == tenant and r.schedule_id == schedule_id
            ]
            out.append((schedule, max(nominal, default=None)))
        return out

    async def add(self, replans: Sequence[Replan]) -> None:
        for replan in replans:
            self._guard(replan.tenant_id)
            self._t.replans[(replan.tenant_id, replan.schedule_id, replan.tzdata_to)] = replan

    async def replans(self, *, limit: int) -> list[Replan]:
        found = [r for r in self._t.replans.values() if self._visible(r.tenant_id)]
        found.sort(key=lambda r: (r.replanned_at, str(r.schedule_id)), reverse=True)
        return found[:limit]


class MemoryAudit(_Scoped):
    async def add(self, entry: AuditEntry) -> None:
        self._guard(entry.tenant_id)
        self._t.audit.append(entry)

    async def list(self, *, after: Keyset | None, limit: int) -> list[AuditEntry]:
        found = sorted(
            (e for e in self._t.audit if self._visible(e.tenant_id)),
            key=lambda e: (e.at, str(e.id)),
            reverse=True,
        )
        if after is not None:
            found = [e for e in found if (e.at, str(e.id)) < (after[0], str(after[1]))]
        return found[:limit]


class MemoryOutbox(_Scoped):
    async def count(self) -> int:
        return len(await self.pending(1_000_000))

    async def append(self, events: Sequence[DomainEvent], *, traceparent: str | None) -> None:
        events = traced(events, traceparent)
        for event in events:
            if self._tenant is not None and event.tenant_id != self._tenant:
                raise ValueError(f"event {event.id} belongs to tenant {event.tenant_id}")
        for event in events:
            if event.id not in self._t.event_ids:
                self._t.event_ids.add(event.id)
                self._t.outbox.append(event)

    async def pending(self, limit: int) -> list[OutboxRecord]:
        start = self._t.published
        return [
            OutboxRecord(seq=start + i + 1, event=e)
            for i, e in enumerate(self._t.outbox[start : start + limit])
        ]

    async def mark_published(self, seqs: Sequence[int]) -> None:
        if seqs:
            self._t.published = max(self._t.published, *seqs)


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


def _percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks, as Postgres' percentile_cont."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)

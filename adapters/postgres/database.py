"""Units of work on PostgreSQL: one asyncpg transaction, scoped to one tenant by RLS."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from adapters import jsonfast
from adapters.postgres.codec import (
    calendar_document,
    calendar_from_document,
    job_document,
    job_from_document,
    schedule_document,
    schedule_from_document,
)
from adapters.postgres.outage import StateHook, quiet_pool_retries, translated
from adapters.postgres.queries import sql
from adapters.postgres.runs import PgRuns
from adapters.postgres.tzdata import PgZoneRules
from adapters.tenancy import require_tenant
from domain.audit import AuditEntry
from domain.backfill import Backfill, BackfillRequest
from domain.calendar import Calendar
from domain.errors import Conflict, NotFound, NotLeader
from domain.events import DomainEvent, EventType, traced
from domain.ids import BackfillId, CalendarId, EventId, JobId, ScheduleId, TenantId, WorkerId
from domain.job import Job
from domain.ports import Keyset, LeaseState, OutboxRecord, ScheduleSearch
from domain.quarantine import Kind as QuarantineKind
from domain.quarantine import Unreadable, reason_of
from domain.schedule import OverlapPolicy, Schedule, ScheduleState
from domain.usage import TenantUsage
from domain.worker import MISSED_HEARTBEATS_OFFLINE, Worker, WorkerState
from domain.zones import tzdata_version

log = logging.getLogger("kairos.postgres")


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb", encoder=jsonfast.dumps_text, decoder=jsonfast.loads, schema="pg_catalog"
    )


@dataclass(frozen=True, slots=True)
class SessionLimits:
    """Server-side limits on every session of a pool, so no statement, lock wait or
    forgotten transaction (a frozen or partitioned process) can hold rows for long, and
    the server notices a dead peer by itself (TCP keepalive) and ends its session, which
    releases its locks. ``None`` leaves the server's setting."""

    statement_timeout: timedelta | None = timedelta(seconds=30)
    lock_timeout: timedelta | None = timedelta(seconds=5)
    # No longer than the leader lease: a frozen leader's locked rows are free by the time
    # another replica has taken over. A relay waiting longer on JetStream inside its
    # transaction loses it; its events stay in the outbox.
    idle_in_transaction: timedelta | None = timedelta(seconds=10)
    keepalive_idle: timedelta | None = timedelta(seconds=5)
    keepalive_interval: timedelta | None = timedelta(seconds=2)
    keepalive_count: int | None = 3
    tcp_user_timeout: timedelta | None = timedelta(seconds=10)

    def server_settings(self) -> dict[str, str]:
        def ms(value: timedelta) -> str:
            return str(int(value.total_seconds() * 1000))

        def s(value: timedelta) -> str:
            return str(max(1, int(value.total_seconds())))

        settings: dict[str, str] = {}
        for key, value, unit in (
            ("statement_timeout", self.statement_timeout, ms),
            ("lock_timeout", self.lock_timeout, ms),
            ("idle_in_transaction_session_timeout", self.idle_in_transaction, ms),
            ("tcp_keepalives_idle", self.keepalive_idle, s),
            ("tcp_keepalives_interval", self.keepalive_interval, s),
            ("tcp_user_timeout", self.tcp_user_timeout, ms),
        ):
            if value is not None:
                settings[key] = unit(value)
        if self.keepalive_count is not None:
            settings["tcp_keepalives_count"] = str(self.keepalive_count)
        return settings


async def create_pool(
    dsn: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    limits: SessionLimits | None = None,
    name: str = "kairos",
) -> asyncpg.Pool:
    """Raises ``DependencyUnavailable`` when no server answers, ``StorageError`` when
    it refuses the sessions (a role without login, a pooler refusing their settings).
    ``name`` is the sessions' ``application_name``: which pool a connection in
    ``pg_stat_activity`` belongs to. Each session also names the tzdata version of the
    process's zone rules (``kairos.tzdata``), which every run it inserts records."""
    quiet_pool_retries()
    with translated(timeouts=True):
        pool = await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            init=_init_connection,
            server_settings={
                **(limits or SessionLimits()).server_settings(),
                "application_name": name,
                "kairos.tzdata": tzdata_version(),
            },
        )
    assert pool is not None
    return pool


async def session_role(pool: asyncpg.Pool) -> tuple[str, bool]:
    """The pool's login role, and whether it is a member of kairos_system (one that may
    act for every tenant). Driver errors come translated."""
    with translated(timeouts=True):
        async with pool.acquire() as conn:
            user, system = await conn.fetchrow(sql("session_role"))
    return str(user), bool(system)


class PostgresDatabase:
    """Units of work on a pool. A lost or unreachable server raises
    ``DependencyUnavailable`` (see ``outage``); ``on_state`` hears of each transaction's
    reachability (None: it worked), so the process can report an outage."""

    def __init__(self, pool: asyncpg.Pool, *, on_state: StateHook | None = None) -> None:
        self._pool = pool
        self._on_state = on_state

    @asynccontextmanager
    async def transaction(self, tenant_id: TenantId) -> AsyncIterator[PostgresUnitOfWork]:
        with translated(self._on_state, timeouts=False):
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute(sql("set_tenant"), tenant_id)
                uow = PostgresUnitOfWork(conn, tenant_id)
                yield uow
                await uow.settle_unreadable()
        if self._on_state is not None:
            self._on_state(None)

    @asynccontextmanager
    async def system(self) -> AsyncIterator[PostgresUnitOfWork]:
        """Cross-tenant unit of work; the pool's role must be a kairos_system member."""
        with translated(self._on_state, timeouts=False):
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute(sql("set_system"))
                uow = PostgresUnitOfWork(conn, None)
                yield uow
                await uow.settle_unreadable()
        if self._on_state is not None:
            self._on_state(None)

    @asynccontextmanager
    async def presence(self) -> AsyncIterator[PgPresence]:
        """A pool connection kept for the block: its session's advisory locks are the
        marks, released by the server when the session ends however it ends."""
        with translated(self._on_state, timeouts=False):
            async with self._pool.acquire() as conn:
                presence = PgPresence(conn)
                try:
                    yield presence
                finally:
                    await presence.close()


class PostgresUnitOfWork:
    def __init__(self, conn: asyncpg.Connection, tenant_id: TenantId | None) -> None:
        self._conn = conn
        self.jobs = PgJobs(conn, tenant_id)
        self.schedules = PgSchedules(conn, tenant_id)
        self.runs = PgRuns(conn, tenant_id)
        self.outbox = PgOutbox(conn, tenant_id)
        self.leader = PgLeaderLease(conn)
        self.workers = PgWorkers(conn, tenant_id)
        self.audit = PgAudit(conn, tenant_id)
        self.backfills = PgBackfills(conn, tenant_id)
        self.calendars = PgCalendars(conn, tenant_id)
        self.usage = PgUsage(conn)
        self.tzdata = PgZoneRules(conn, tenant_id, PgSchedules._from_row)

    async def now(self) -> datetime:
        value: datetime = await self._conn.fetchval(sql("db_now"))
        return value

    async def settle_unreadable(self) -> None:
        """The events of rows quarantined in this transaction (``domain.quarantine``),
        committed with it: a row that could not be read is paused or buried, and says so."""
        found = [*self.schedules.unreadable, *self.runs.unreadable]
        if found:
            now = await self.now()
            await self.outbox.append([item.event(now) for item in found], traceparent=None)
            self.schedules.unreadable.clear()
            self.runs.unreadable.clear()


class PgLeaderLease:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def read(self, name: str) -> LeaseState | None:
        row = await self._conn.fetchrow(sql("leader_read"), name)
        return None if row is None else LeaseState(row["holder"], row["epoch"], row["live"])

    async def renew(self, name: str, holder: str, epoch: int, ttl: timedelta) -> bool:
        renewed = await self._conn.fetchval(sql("leader_renew"), name, holder, epoch, ttl)
        return renewed is not None

    async def take(
        self, name: str, holder: str, ttl: timedelta, *, seen: int | None, vacated: bool = False
    ) -> int | None:
        epoch: int | None
        if seen is None:
            epoch = await self._conn.fetchval(sql("leader_first"), name, holder, ttl)
        else:
            epoch = await self._conn.fetchval(sql("leader_take"), name, holder, seen, ttl, vacated)
        return epoch

    async def release(self, name: str, holder: str, epoch: int) -> None:
        await self._conn.execute(sql("leader_release"), name, holder, epoch)

    async def current(self, name: str) -> tuple[str, int] | None:
        row = await self._conn.fetchrow(sql("leader_current"), name)
        return None if row is None else (row["holder"], row["epoch"])

    async def check(self, name: str, holder: str, epoch: int) -> None:
        if await self._conn.fetchval(sql("leader_check"), name, holder, epoch) is None:
            raise NotLeader(holder, epoch)

    async def fence(self, name: str, holder: str, epoch: int) -> None:
        if await self._conn.fetchval(sql("leader_fence"), name, holder, epoch) is None:
            raise NotLeader(holder, epoch)


class PgPresence:
    """Marks as session-level advisory locks on one connection. Such locks stack per
    session, so the marks held are tracked here and never taken twice."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self._held: set[tuple[str, int]] = set()

    async def hold(self, name: str, epoch: int) -> bool:
        if (name, epoch) in self._held:
            return True
        if await self._conn.fetchval(sql("presence_hold"), name, epoch):
            self._held.add((name, epoch))
            return True
        return False

    async def vacant(self, name: str, epoch: int) -> bool:
        if (name, epoch) in self._held:
            return False
        if not await self._conn.fetchval(sql("presence_hold"), name, epoch):
            return False
        await self._conn.fetchval(sql("presence_drop"), name, epoch)
        return True

    async def drop(self, name: str, epoch: int) -> None:
        if (name, epoch) in self._held:
            self._held.discard((name, epoch))
            await self._conn.fetchval(sql("presence_drop"), name, epoch)

    @asynccontextmanager
    async def lease(self) -> AsyncIterator[PgLeaderLease]:
        # leader_lease has no row-level security: no tenant or system mode to declare.
        async with self._conn.transaction():
            yield PgLeaderLease(self._conn)

    async def close(self) -> None:
        """Drop every mark (the pool's reset would too; a broken session holds none)."""
        held, self._held = self._held, set()
        # A session that is gone (terminated, connection lost) took its locks with it.
        with contextlib.suppress(asyncpg.PostgresError, OSError, asyncpg.InterfaceError):
            for name, epoch in held:
                await self._conn.fetchval(sql("presence_drop"), name, epoch)


class PgJobs:
    def __init__(self, conn: asyncpg.Connection, tenant_id: TenantId | None) -> None:
        self._conn = conn
        self._tenant = tenant_id

    async def get(self, job_id: JobId) -> Job:
        row = await self._conn.fetchrow(sql("get_job"), job_id)
        if row is None:
            raise NotFound("job", str(job_id))
        return self._from_row(row)

    @staticmethod
    def _from_row(row: asyncpg.Record) -> Job:
        return job_from_document(
            row["spec"],
            id=JobId(row["id"]),
            tenant_id=TenantId(row["tenant_id"]),
            name=row["name"],
            version=row["version"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    async def by_name(self, name: str) -> Job:
        row = await self._conn.fetchrow(sql("job_by_name"), name)
        if row is None:
            raise NotFound("job", name)
        return self._from_row(row)

    async def list(self, *, after: Keyset | None, limit: int) -> list[Job]:
        at, id = after or (None, None)
        rows = await self._conn.fetch(sql("list_jobs"), at, id, limit)
        return [self._from_row(row) for row in rows]

    async def add(self, job: Job) -> None:
        _guard(job.tenant_id, self._tenant)
        try:
            await self._conn.execute(
                sql("insert_job"),
                job.tenant_id,
                job.id,
                job.name,
                job_document(job),
                job.version,
                job.created_at,
                job.updated_at,
                job.target.kind.value,
                job.max_concurrency,
            )
        except asyncpg.UniqueViolationError:
            raise Conflict(f"a job named {job.name!r} already exists", name=job.name) from None

    async def save(self, job: Job, *, expected_version: int) -> None:
        try:
            _guard(job.tenant_id, self._tenant)
            status = await self._conn.execute(
                sql("update_job"),
                job.tenant_id,
                job.id,
                job.name,
                job_document(job),
                job.version,
                job.updated_at,
                expected_version,
                job.target.kind.value,
                job.max_concurrency,
            )
        except asyncpg.UniqueViolationError:
            raise Conflict(f"a job named {job.name!r} already exists", name=job.name) from None
        if status == "UPDATE 0":
            await _stale_or_missing(self._conn, "job_version", "job", job.id, expected_version)


class PgCalendars:
    def __init__(self, conn: asyncpg.Connection, tenant_id: TenantId | None) -> None:
        self._conn = conn
        self._tenant = tenant_id

    @staticmethod
    def _from_row(row: asyncpg.Record) -> Calendar:
        return calendar_from_document(
            row["spec"],
            id=CalendarId(row["id"]),
            tenant_id=TenantId(row["tenant_id"]),
            name=row["name"],
            version=row["version"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    async def get(self, calendar_id: CalendarId) -> Calendar:
        row = await self._conn.fetchrow(sql("get_calendar"), calendar_id)
        if row is None:
            raise NotFound("calendar", str(calendar_id))
        return self._from_row(row)

    async def list(self, *, after: Keyset | None, limit: int) -> list[Calendar]:
        at, id = after or (None, None)
        rows = await self._conn.fetch(sql("list_calendars"), at, id, limit)
        return [self._from_row(row) for row in rows]

    async def add(self, calendar: Calendar) -> None:
        _guard(calendar.tenant_id, self._tenant)
        try:
            await self._conn.execute(
                sql("insert_calendar"),
                calendar.tenant_id,
                calendar.id,
                calendar.name,
                calendar.version,
                calendar_document(calendar),
                calendar.created_at,
                calendar.updated_at,
            )
        except asyncpg.UniqueViolationError:
            raise Conflict(
                f"a calendar named {calendar.name!r} already exists", name=calendar.name
            ) from None

    async def save(self, calendar: Calendar, *, expected_version: int) -> None:
        _guard(calendar.tenant_id, self._tenant)
        try:
            status = await self._conn.execute(
                sql("update_calendar"),
                calendar.tenant_id,
                calendar.id,
                calendar.name,
                calendar.version,
                calendar_document(calendar),
                calendar.updated_at,
                expected_version,
            )
        except asyncpg.UniqueViolationError:
            raise Conflict(
                f"a calendar named {calendar.name!r} already exists", name=calendar.name
            ) from None
        if status == "UPDATE 0":
            await _stale_or_missing(
                self._conn, "calendar_version", "calendar", calendar.id, expected_version
            )

    async def users(self, calendar_id: CalendarId) -> int:
        count: int = await self._conn.fetchval(sql("calendar_users"), calendar_id)
        return count

    async def delete(self, calendar_id: CalendarId) -> None:
        try:
            status = await self._conn.execute(sql("delete_calendar"), calendar_id)
        except asyncpg.ForeignKeyViolationError:
            raise Conflict(
                "the calendar is referenced by schedules (deleted ones keep their history)",
                calendar_id=str(calendar_id),
            ) from None
        if status == "DELETE 0":
            raise NotFound("calendar", str(calendar_id))


class PgSchedules:
    def __init__(self, conn: asyncpg.Connection, tenant_id: TenantId | None) -> None:
        self._conn = conn
        self._tenant = tenant_id
        self.unreadable: list[Unreadable] = []

    async def _readable(self, rows: Sequence[asyncpg.Record]) -> list[Schedule]:
        """The rows as schedules; one that does not decode is quarantined (paused, with
        its reason and event) and left out, so it stops no loop and no listing."""
        out: list[Schedule] = []
        for row in rows:
            try:
                out.append(self._from_row(row))
            except Exception as exc:  # any decoding failure: the row, not the caller
                await self._quarantine(row, exc)
        return out

    async def _quarantine(self, row: asyncpg.Record, exc: Exception) -> str:
        reason = reason_of("UNREADABLE: the stored schedule cannot be read", exc)
        log.error("schedule %s of tenant %s quarantined: %s", row["id"], row["tenant_id"], reason)
        moved = await self._conn.fetchrow(
            sql("quarantine_schedule"), row["tenant_id"], row["id"], reason
        )
        if moved is not None:
            self.unreadable.append(
                Unreadable(
                    kind=QuarantineKind.SCHEDULE,
                    tenant_id=TenantId(row["tenant_id"]),
                    id=row["id"],
                    revision=moved["version"],
                    reason=reason,
                    name=moved["name"],
                )
            )
        return reason

    @staticmethod
    def _from_row(row: asyncpg.Record) -> Schedule:
        return schedule_from_document(
            row["spec"],
            id=ScheduleId(row["id"]),
            tenant_id=TenantId(row["tenant_id"]),
            name=row["name"],
            job_id=JobId(row["job_id"]),
            state=ScheduleState(row["state"]),
            next_fire_at=row["next_fire_at"],
            fire_count=row["fire_count"],
            system=row["system"],
            version=row["version"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    def _values(self, schedule: Schedule) -> tuple[Any, ...]:
        _guard(schedule.tenant_id, self._tenant)
        return (
            schedule.tenant_id,
            schedule.id,
            schedule.name,
            schedule.job_id,
            schedule.timing.calendar_id,
            schedule_document(schedule),
            schedule.state.value,
            schedule.next_fire_at,
            schedule.fire_count,
            schedule.system,
            schedule.version,
            schedule.timing.trigger.kind.value,
        )

    async def get(self, schedule_id: ScheduleId) -> Schedule:
        row = await self._conn.fetchrow(sql("get_schedule"), schedule_id)
        if row is None:
            raise NotFound("schedule", str(schedule_id))
        found = await self._readable([row])
        if not found:
            raise Conflict(
                f"schedule {schedule_id} is stored in a form Kairos cannot read; it is paused",
                schedule_id=str(schedule_id),
            )
        return found[0]

    async def next_due(self) -> datetime | None:
        value: datetime | None = await self._conn.fetchval(sql("next_due"))
        return value

    async def due(self, until: datetime, limit: int) -> list[Schedule]:
        rows = await self._conn.fetch(sql("schedules_due"), until, limit)
        return await self._readable(rows)

    async def event_schedules(self) -> list[Schedule]:
        return await self._readable(await self._conn.fetch(sql("event_schedules")))

    async def count_live(self) -> int:
        return int(await self._conn.fetchval(sql("count_live_schedules")))

    async def of_job(self, job_id: JobId) -> list[Schedule]:
        rows = await self._conn.fetch(sql("schedules_of_job"), job_id)
        return await self._readable(rows)

    async def by_name(self, name: str) -> Schedule:
        row = await self._conn.fetchrow(sql("schedule_by_name"), name)
        if row is None:
            raise NotFound("schedule", name)
        return self._from_row(row)

    async def advance_many(self, changes: Sequence[tuple[Schedule, int]]) -> None:
        if not changes:
            return
        for schedule, _ in changes:
            _guard(schedule.tenant_id, self._tenant)
        updated = await self._conn.fetch(
            sql("advance_schedules"),
            [s.tenant_id for s, _ in changes],
            [s.id for s, _ in changes],
            [s.state.value for s, _ in changes],
            [s.next_fire_at for s, _ in changes],
            [s.fire_count for s, _ in changes],
            [s.version for s, _ in changes],
            [s.updated_at for s, _ in changes],
            [expected for _, expected in changes],
        )
        if len(updated) != len(changes):
            done = {row["id"] for row in updated}
            first, expected = next((s, e) for s, e in changes if s.id not in done)
            await _stale_or_missing(self._conn, "schedule_version", "schedule", first.id, expected)

    async def list(self, *, after: Keyset | None, limit: int) -> list[Schedule]:
        at, id = after or (None, None)
        rows = await self._conn.fetch(sql("list_schedules"), at, id, limit)
        return await self._readable(rows)

    async def search(self, query: ScheduleSearch) -> tuple[Sequence[Schedule], int]:
        state = query.state.value if query.state is not None else None
        text = query.text[:200]
        total = await self._conn.fetchval(sql("count_search_schedules"), text, state)
        rows = await self._conn.fetch(
            sql("search_schedules"),
            text,
            state,
            query.order.value,
            query.descending,
            query.limit,
            query.offset,
        )
        return await self._readable(rows), int(total)

    async def add(self, schedule: Schedule) -> None:
        with _schedule_errors(schedule):
            await self._conn.execute(
                sql("insert_schedule"),
                *self._values(schedule),
                schedule.created_at,
                schedule.updated_at,
            )

    async def save(self, schedule: Schedule, *, expected_version: int) -> None:
        with _schedule_errors(schedule):
            status = await self._conn.execute(
                sql("update_schedule"),
                *self._values(schedule),
                schedule.updated_at,
                expected_version,
            )
        if status == "UPDATE 0":
            await _stale_or_missing(
                self._conn, "schedule_version", "schedule", schedule.id, expected_version
            )


class PgBackfills:
    def __init__(self, conn: asyncpg.Connection, tenant_id: TenantId | None) -> None:
        self._conn = conn
        self._tenant = tenant_id

    async def add(self, backfill: Backfill) -> None:
        request = backfill.request
        if self._tenant is not None:
            require_tenant(request.tenant_id, self._tenant)
        await self._conn.execute(
            sql("insert_backfill"),
            request.tenant_id,
            backfill.id,
            request.schedule_id,
            request.from_at,
            request.to_at,
            request.max_runs,
            request.overlap_policy.value,
            request.ignore_calendar,
            backfill.planned,
            backfill.created,
            backfill.rearmed,
            backfill.existing,
            backfill.next_from,
            backfill.created_at,
        )

    async def get(self, backfill_id: BackfillId) -> Backfill:
        row = await self._conn.fetchrow(sql("get_backfill"), backfill_id)
        if row is None:
            raise NotFound("backfill", str(backfill_id))
        request = BackfillRequest(
            tenant_id=TenantId(row["tenant_id"]),
            schedule_id=ScheduleId(row["schedule_id"]),
            from_at=row["from_at"],
            to_at=row["to_at"],
            max_runs=row["max_runs"],
            overlap_policy=OverlapPolicy(row["overlap_policy"]),
            ignore_calendar=row["ignore_calendar"],
        )
        return Backfill(
            request=request,
            planned=row["planned"],
            created=row["created"],
            rearmed=row["rearmed"],
            existing=row["existing"],
            next_from=row["next_from"],
            created_at=row["created_at"],
        )


class PgWorkers:
    def __init__(self, conn: asyncpg.Connection, tenant_id: TenantId | None) -> None:
        self._conn = conn
        self._tenant = tenant_id

    @staticmethod
    def _from_row(row: asyncpg.Record) -> Worker:
        return Worker(
            id=WorkerId(row["id"]),
            tenant_id=TenantId(row["tenant_id"]),
            name=row["name"],
            capabilities=frozenset(row["capabilities"]),
            capacity=row["capacity"],
            version=row["version"],
            state=WorkerState(row["state"]),
            heartbeat_interval=row["heartbeat_interval"],
            registered_at=row["registered_at"],
            last_heartbeat_at=row["last_heartbeat_at"],
            beats=row["beats"],
            labels=row["labels"],
        )

    async def get(self, worker_id: WorkerId, *, lock: bool = False) -> Worker:
        row = await self._conn.fetchrow(
            sql("get_worker_for_update" if lock else "get_worker"), worker_id
        )
        if row is None:
            raise NotFound("worker", str(worker_id))
        return self._from_row(row)

    async def save(self, worker: Worker) -> None:
        _guard(worker.tenant_id, self._tenant)
        await self._conn.execute(
            sql("save_worker"),
            worker.tenant_id,
            worker.id,
            worker.name,
            sorted(worker.capabilities),
            worker.capacity,
            worker.version,
            worker.state.value,
            worker.heartbeat_interval,
            worker.registered_at,
            worker.last_heartbeat_at,
            worker.beats,
            dict(worker.labels),
        )

    async def list(self, *, after: Keyset | None, limit: int) -> list[Worker]:
        at, id = after or (None, None)
        rows = await self._conn.fetch(sql("list_workers"), at, id, limit)
        return [self._from_row(row) for row in rows]

    async def silent(self, now: datetime, limit: int) -> Sequence[Worker]:
        rows = await self._conn.fetch(sql("silent_workers"), now, MISSED_HEARTBEATS_OFFLINE, limit)
        return [self._from_row(row) for row in rows]


class PgUsage:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def usage(self, since: datetime) -> list[TenantUsage]:
        rows = await self._conn.fetch(sql("tenant_usage"), since)
        return [
            TenantUsage(
                tenant_id=TenantId(row["tenant_id"]),
                schedules=row["schedules"],
                enabled=row["enabled"],
                jobs=row["jobs"],
                running=row["running"],
                queued=row["queued"],
                waiting=row["waiting"],
                workers=row["workers"],
                ended=jsonfast.loads(row["ended"]),
            )
            for row in rows
        ]


class PgAudit:
    def __init__(self, conn: asyncpg.Connection, tenant_id: TenantId | None) -> None:
        self._conn = conn
        self._tenant = tenant_id

    async def add(self, entry: AuditEntry) -> None:
        _guard(entry.tenant_id, self._tenant)
        await self._conn.execute(
            sql("insert_audit"),
            entry.tenant_id,
            entry.id,
            entry.at,
            entry.actor,
            entry.method,
            entry.path,
            entry.status,
            None if entry.before is None else dict(entry.before),
            None if entry.after is None else dict(entry.after),
        )

    async def list(self, *, after: Keyset | None, limit: int) -> list[AuditEntry]:
        at, id = after or (None, None)
        rows = await self._conn.fetch(sql("list_audit"), at, id, limit)
        return [
            AuditEntry(
                tenant_id=TenantId(row["tenant_id"]),
                id=row["id"],
                at=row["at"],
                actor=row["actor"],
                method=row["method"],
                path=row["path"],
                status=row["status"],
                before=row["before"],
                after=row["after"],
            )
            for row in rows
        ]


class PgOutbox:
    def __init__(self, conn: asyncpg.Connection, tenant_id: TenantId | None) -> None:
        self._conn = conn
        self._tenant = tenant_id

    async def count(self) -> int:
        return int(await self._conn.fetchval(sql("outbox_count")))

    async def append(self, events: Sequence[DomainEvent], *, traceparent: str | None) -> None:
        if not events:
            return
        events = traced(events, traceparent)
        for event in events:
            if self._tenant is not None and event.tenant_id != self._tenant:
                raise ValueError(f"event {event.id} belongs to tenant {event.tenant_id}")
        await self._conn.execute(
            sql("append_outbox"),
            [event.tenant_id for event in events],
            [event.id for event in events],
            [event.aggregate_id for event in events],
            [event.type.value for event in events],
            [event.subject for event in events],
            [_outbox_payload(event) for event in events],
            [event.occurred_at for event in events],
        )

    async def pending(self, limit: int) -> list[OutboxRecord]:
        return await _pending(self._conn, limit)

    async def mark_published(self, seqs: Sequence[int]) -> None:
        if seqs:
            await self._conn.execute(sql("outbox_mark"), list(seqs))


@contextmanager
def _schedule_errors(schedule: Schedule) -> Iterator[None]:
    """Constraint violations of a schedule write as domain errors."""
    try:
        yield
    except asyncpg.UniqueViolationError:
        raise Conflict(
            f"a schedule named {schedule.name!r} already exists", name=schedule.name
        ) from None
    except asyncpg.ForeignKeyViolationError:
        raise NotFound("job", str(schedule.job_id)) from None


def _guard(owner: TenantId, tenant: TenantId | None) -> None:
    if tenant is not None:
        require_tenant(owner, tenant)


async def _pending(conn: asyncpg.Connection, limit: int) -> list[OutboxRecord]:
    rows = await conn.fetch(sql("outbox_pending"), limit)
    return [OutboxRecord(seq=row["seq"], event=_event_from_row(row)) for row in rows]


async def _stale_or_missing(
    conn: asyncpg.Connection, query: str, kind: str, id: uuid.UUID, expected: int
) -> None:
    current = await conn.fetchval(sql(query), id)
    if current is None:
        raise NotFound(kind, str(id))
    raise Conflict(
        f"{kind} {id} was changed concurrently (version {current}, expected {expected})",
        id=str(id),
        version=current,
        expected_version=expected,
    )


def _outbox_payload(event: DomainEvent) -> str:
    body: dict[str, Any] = {"occurred_at": event.occurred_at.isoformat(), "data": dict(event.data)}
    if event.traceparent:
        body["traceparent"] = event.traceparent
    return jsonfast.dumps_text(body)


def _event_from_row(row: asyncpg.Record) -> DomainEvent:
    body = row["payload"]
    return DomainEvent(
        id=EventId(row["event_id"]),
        type=EventType(row["type"]),
        tenant_id=TenantId(row["tenant_id"]),
        aggregate_id=row["aggregate_id"],
        occurred_at=datetime.fromisoformat(body["occurred_at"]),
        data=body["data"],
        traceparent=body.get("traceparent"),
    )

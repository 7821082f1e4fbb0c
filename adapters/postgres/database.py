"""Units of work on PostgreSQL: one asyncpg transaction, scoped to one tenant by RLS.

The pool, its sessions' limits, the database and its unit of work; each repository of a
unit of work lives in its own module beside this one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from adapters import jsonfast
from adapters.postgres.audit import PgAudit
from adapters.postgres.backfills import PgBackfills
from adapters.postgres.calendars import PgCalendars
from adapters.postgres.jobs import PgJobs
from adapters.postgres.leases import PgLeaderLease, PgPresence
from adapters.postgres.outage import StateHook, quiet_pool_retries, translated
from adapters.postgres.outbox import PgOutbox
from adapters.postgres.queries import sql
from adapters.postgres.runs import PgRuns
from adapters.postgres.schedules import PgSchedules
from adapters.postgres.tzdata import PgZoneRules
from adapters.postgres.usage import PgUsage
from adapters.postgres.workers import PgWorkers
from domain.ids import TenantId
from domain.zones import tzdata_version


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

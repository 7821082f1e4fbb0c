"""The leader lease on PostgreSQL (``leader_lease`` rows) and the leader's presence marks
(session-level advisory locks on one connection)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import asyncpg

from adapters.postgres.queries import sql
from domain.errors import NotLeader
from domain.ports import LeaseState


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

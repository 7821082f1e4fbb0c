"""The leader lease on PostgreSQL (``leader_lease`` rows) and the leader's presence marks
(session-level advisory locks on one connection)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta

import asyncpg

from adapters.postgres.queries import sql
from domain.errors import NotLeader
from domain.ports import LeaseState, Member, NamedLease


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

    async def check_all(self, holder: str, leases: Sequence[tuple[str, int]]) -> None:
        await self._all("leader_check_all", holder, leases)

    async def fence_all(self, holder: str, leases: Sequence[tuple[str, int]]) -> None:
        await self._all("leader_fence_all", holder, leases)

    async def _all(self, query: str, holder: str, leases: Sequence[tuple[str, int]]) -> None:
        if not leases:
            raise NotLeader(holder, 0)
        names = [name for name, _ in leases]
        epochs = [epoch for _, epoch in leases]
        held = await self._conn.fetchval(sql(query), names, holder, epochs)
        if held != len(leases):
            raise NotLeader(holder, max(epochs))

    async def renew_all(
        self, holder: str, leases: Sequence[tuple[str, int]], ttl: timedelta
    ) -> set[str]:
        if not leases:
            return set()
        rows = await self._conn.fetch(
            sql("leader_renew_all"),
            [name for name, _ in leases],
            holder,
            [epoch for _, epoch in leases],
            ttl,
        )
        return {row["name"] for row in rows}

    async def all(self, prefix: str) -> list[NamedLease]:
        rows = await self._conn.fetch(sql("leader_all"), prefix)
        return [
            NamedLease(r["name"], r["holder"], r["epoch"], r["live"], r["expires_at"]) for r in rows
        ]

    async def partition_count(self) -> int:
        return int(await self._conn.fetchval(sql("partition_count")))

    async def beat(self, replica: str, ttl: timedelta) -> None:
        await self._conn.execute(sql("replica_beat"), replica, ttl)
        await self._conn.execute(sql("replica_forget"))

    async def leave(self, replica: str) -> None:
        await self._conn.execute(sql("replica_leave"), replica)

    async def members(self) -> list[Member]:
        rows = await self._conn.fetch(sql("replica_members"))
        return [Member(r["name"], r["started_at"], r["seen_at"], r["live"]) for r in rows]


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

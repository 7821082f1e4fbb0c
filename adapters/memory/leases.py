"""The in-memory leader lease and the leader's presence marks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING

from adapters.memory.tables import _Tables
from domain.errors import NotLeader
from domain.ports import Clock, LeaseState, Member, NamedLease

if TYPE_CHECKING:
    from adapters.memory.database import MemoryUnitOfWork


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

    async def check_all(self, holder: str, leases: Sequence[tuple[str, int]]) -> None:
        if not leases:
            raise NotLeader(holder, 0)
        for name, epoch in leases:
            await self.check(name, holder, epoch)

    async def fence_all(self, holder: str, leases: Sequence[tuple[str, int]]) -> None:
        await self.check_all(holder, leases)

    async def renew_all(
        self, holder: str, leases: Sequence[tuple[str, int]], ttl: timedelta
    ) -> set[str]:
        return {name for name, epoch in leases if await self.renew(name, holder, epoch, ttl)}

    async def all(self, prefix: str) -> list[NamedLease]:
        now = self._clock.now()
        return [
            NamedLease(name, holder, epoch, expires > now, expires)
            for name, (holder, epoch, expires) in sorted(self._t.leases.items())
            if name.startswith(prefix)
        ]

    async def partition_count(self) -> int:
        return self._t.partitions

    async def beat(self, replica: str, ttl: timedelta) -> None:
        now = self._clock.now()
        known = self._t.members.get(replica)
        started = known[0] if known is not None and known[2] > now else now
        self._t.members[replica] = (started, now, now + ttl)

    async def leave(self, replica: str) -> None:
        self._t.members.pop(replica, None)

    async def members(self) -> list[Member]:
        now = self._clock.now()
        return [
            Member(name, started, seen, expires > now)
            for name, (started, seen, expires) in sorted(self._t.members.items())
        ]


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

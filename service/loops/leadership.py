"""Leadership among scheduler replicas (docs/semantics.md, *Leadership*): who leads, and how every
leader-only write is fenced.

The lease row (holder, epoch, expires_at) is the truth. A replica leads at epoch N from
the commit of its takeover until the lease expires or another replica takes epoch N+1.

- **Fenced passes.** Every leader-only pass (materialiser, rescuer, worker sweep,
  dependency resolver, relay) runs in ``fenced``: a lock-free ``check`` first (a deposed
  leader does no work), the pass, then ``fence`` as its last statement before commit. The
  fence holds a key-share lock on the lease row only from that statement to the commit: a
  takeover, which changes the epoch, waits for that commit; a renewal never waits. So
  every commit of epoch N precedes the takeover to N+1, and a pass of N that had not
  reached its fence when N+1 was taken raises ``NotLeader`` and writes nothing. The
  window between fence and commit is one round trip; a process frozen exactly there holds
  a takeover off until the server's ``idle_in_transaction_session_timeout`` ends its
  session. Even two leaders at once could not duplicate a run (the UNIQUE run key), lose
  a schedule's progress (version checks) or a run's outcome (lease tokens).
- **Frozen or partitioned leaders** hold no lock across a pass, so they lose leadership
  when their lease expires (``ttl``); the others see it at their next poll.
- **Killed leaders.** The leader of epoch N holds a presence mark N, tied to its own
  database session and taken before its takeover commits. When its process dies or its
  connection breaks, the server ends the session and the mark is free: another replica
  sees a live lease whose mark is vacant and takes over at once (``vacated``), within one
  poll, instead of after the ttl.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from domain.ports import LEADER, Database, LeaderLease, LeaderPresence, UnitOfWork

log = logging.getLogger("kairos.leadership")


@dataclass(frozen=True, slots=True)
class Fence:
    """The lease a leader-only pass acts under."""

    holder: str
    epoch: int
    name: str = LEADER


async def acquire(lease: LeaderLease, name: str, holder: str, ttl: timedelta) -> int | None:
    """Become or stay leader in one step, without a presence: renew if ``holder``
    leads, take over (epoch + 1) if the lease expired; the epoch held, or None when
    someone else leads. (Replicas campaign with ``Campaign``; this is for tools and
    tests that need a lease at once.)"""
    state = await lease.read(name)
    if state is None:
        return await lease.take(name, holder, ttl, seen=None)
    if state.holder == holder and await lease.renew(name, holder, state.epoch, ttl):
        return state.epoch
    return await lease.take(name, holder, ttl, seen=state.epoch)


@asynccontextmanager
async def fenced(db: Database, fence: Fence) -> AsyncIterator[UnitOfWork]:
    """A system unit of work that commits only while ``fence`` still leads: raises
    ``NotLeader`` (and rolls back) otherwise, at the start or at the end."""
    async with db.system() as tx:
        await tx.leader.check(fence.name, fence.holder, fence.epoch)
        yield tx
        await tx.leader.fence(fence.name, fence.holder, fence.epoch)


class Campaign:
    """One replica's standing for leadership: each ``step`` renews the lease it holds or
    takes it over when it expired or its holder's presence is gone."""

    def __init__(
        self,
        presence: LeaderPresence,
        holder: str,
        ttl: timedelta,
        *,
        name: str = LEADER,
    ) -> None:
        self._presence = presence
        self.holder = holder
        self.ttl = ttl
        self.name = name
        self.epoch: int | None = None
        self._marks: set[int] = set()  # presence marks held (the current epoch's, at most)

    @property
    def fence(self) -> Fence | None:
        return None if self.epoch is None else Fence(self.holder, self.epoch, self.name)

    async def step(self) -> int | None:
        """Renew or take over; the epoch held afterwards, or None."""
        claimed: int | None = None  # a mark taken this step, dropped unless we lead by it
        committed = False
        try:
            async with self._presence.lease() as leases:
                lease = await leases.read(self.name)
                mine = (self.holder, self.epoch)
                if lease is not None and lease.live and (lease.holder, lease.epoch) == mine:
                    if await leases.renew(self.name, self.holder, lease.epoch, self.ttl):
                        return self.epoch
                    lease = await leases.read(self.name)  # expired or moved on meanwhile
                vacated = False
                if lease is not None and lease.live:
                    # Someone leads (or an earlier process under this name): only a vacant
                    # mark of that epoch says its holder is gone (our own is never vacant).
                    if not await self._presence.vacant(self.name, lease.epoch):
                        await self._lose()
                        return None
                    vacated = True
                seen = None if lease is None else lease.epoch
                # Mark first, then take: from the takeover's commit on, the new epoch's
                # mark is held, so nobody can read it as vacant.
                if not await self._presence.hold(self.name, 1 if seen is None else seen + 1):
                    await self._lose()  # another replica is taking this epoch
                    return None
                claimed = 1 if seen is None else seen + 1
                epoch = await leases.take(
                    self.name, self.holder, self.ttl, seen=seen, vacated=vacated
                )
                if epoch is None:
                    await self._lose()
                    return None
                assert epoch == claimed
            committed = True
        finally:
            if claimed is not None and not committed:
                await self._presence.drop(self.name, claimed)
        # Committed: we lead at ``epoch``.
        if vacated:
            log.warning(
                "lease %s: the session of epoch %s's holder ended; took over", self.name, seen
            )
        for old in self._marks - {epoch}:
            await self._presence.drop(self.name, old)
        self._marks = {epoch}
        self.epoch = epoch
        return epoch

    async def _lose(self) -> None:
        """Not the leader (any more): the old epoch's mark means nothing now."""
        self.epoch = None
        for old in self._marks:
            await self._presence.drop(self.name, old)
        self._marks = set()

    async def resign(self) -> None:
        """A clean stop: let the lease expire now, so another replica takes over at its
        next poll rather than after the ttl."""
        if self.epoch is not None:
            async with self._presence.lease() as leases:
                await leases.release(self.name, self.holder, self.epoch)
        await self._lose()

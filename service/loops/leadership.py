"""Leadership among scheduler replicas (docs/semantics.md, *Leadership*): who leads, and how every
leader-only write is fenced.

The work is split into a fixed number of partitions (``domain.partitions``): each has a
lease of its own, and the replicas share them out (``PartitionCampaign``). One more
lease, ``LEADER``, is for the cluster-wide work (tzdata re-plans, the silent-worker
sweep; ``Campaign``). Everything below holds for each lease on its own.

A lease row (holder, epoch, expires_at) is the truth. A replica leads at epoch N from
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
- **Partition sets.** A pass over partitions runs under a fence of every partition the
  replica holds, each with its epoch: checked together at the start, fenced together
  (locked in name order) at the end; one lost partition makes the whole pass raise
  ``NotLeader`` and roll back.
- **Sharing partitions.** Replicas beat a membership row (``scheduler_replicas``) and
  hold a member mark (a presence mark of their own). The live members are the rows not
  expired whose member mark is held; ``domain.partitions.assign`` says who should lead
  each partition among them (every replica computes the same answer). A replica renews
  what it holds and is assigned, releases what it holds and is not (a hand-over: the
  release ends its passes on it at their fence, the new owner takes epoch + 1, which
  waits for a pass that fenced before the release), and takes what it is assigned
  once the lease expired, was released, or its holder's mark is vacant.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from domain.errors import NotLeader
from domain.partitions import (
    PREFIX,
    assign,
    lease_name,
    parse_partitions,
    partition_from_lease,
)
from domain.ports import LEADER, Database, LeaderLease, LeaderPresence, UnitOfWork

log = logging.getLogger("kairos.leadership")

MEMBER = "replica/"  # a replica's member mark: presence mark 0 of MEMBER + its name


@dataclass(frozen=True, slots=True)
class Fence:
    """The leases a leader-only pass acts under: (lease name, epoch) pairs, by name. A
    pass over partitions acts on the partitions among them (``partitions``)."""

    holder: str
    leases: tuple[tuple[str, int], ...]

    @classmethod
    def of(cls, holder: str, epoch: int, name: str = LEADER) -> Fence:
        """One lease (the cluster-wide one unless named)."""
        return cls(holder, ((name, epoch),))

    @classmethod
    def over(cls, holder: str, epochs: Mapping[int, int], count: int) -> Fence:
        """Partitions held at their epochs, among ``count``."""
        return cls(holder, tuple(sorted((lease_name(p, count), e) for p, e in epochs.items())))

    @property
    def partitions(self) -> list[int]:
        """The partitions this fence covers, ascending."""
        return parse_partitions(name for name, _ in self.leases)

    @property
    def epoch(self) -> int:
        """The epoch of a one-lease fence (the highest of several)."""
        return max(epoch for _, epoch in self.leases)

    @property
    def name(self) -> str:
        """The name of a one-lease fence (the first of several)."""
        return self.leases[0][0]


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
    if not fence.leases:
        raise NotLeader(fence.holder, 0)  # a fence of nothing guards nothing
    async with db.system() as tx:
        await tx.leader.check_all(fence.holder, fence.leases)
        yield tx
        await tx.leader.fence_all(fence.holder, fence.leases)


async def acquire_all(
    lease: LeaderLease, holder: str, ttl: timedelta, *, cluster: bool = True
) -> Fence | None:
    """Every partition's lease (and, with ``cluster``, the cluster-wide one) for
    ``holder`` at once, as one replica alone holds them: the fence over all of them,
    or None when any is held by someone else. For tools and tests."""
    count = await lease.partition_count()
    names = [lease_name(p, count) for p in range(count)]
    if cluster:
        names.append(LEADER)
    leases: list[tuple[str, int]] = []
    for name in names:
        epoch = await acquire(lease, name, holder, ttl)
        if epoch is None:
            return None
        leases.append((name, epoch))
    return Fence(holder, tuple(sorted(leases)))


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
        quiet: bool = False,
    ) -> None:
        self._presence = presence
        self._quiet = quiet  # one of many partitions' campaigns: its owner logs
        self.holder = holder
        self.ttl = ttl
        self.name = name
        self.epoch: int | None = None
        self._marks: set[int] = set()  # presence marks held (the current epoch's, at most)

    @property
    def fence(self) -> Fence | None:
        return None if self.epoch is None else Fence.of(self.holder, self.epoch, self.name)

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
        if vacated and not self._quiet:
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


class PartitionCampaign:
    """One replica's share of the partitions (see the module docstring): each ``step``
    beats its membership, renews the partitions it holds and is assigned, hands over
    the ones assigned to another live replica, and takes the ones assigned to it that
    are free. ``epochs`` is what it holds afterwards (partition -> epoch)."""

    def __init__(self, presence: LeaderPresence, holder: str, ttl: timedelta) -> None:
        self._presence = presence
        self.holder = holder
        self.ttl = ttl
        self.count: int | None = None
        self.epochs: dict[int, int] = {}
        self.members: list[str] = []  # the live replicas at the last step
        self._campaigns: dict[int, Campaign] = {}
        self._member = False  # whether this presence holds the member mark
        self.waiting = 0  # partitions assigned here that another live replica still holds

    @property
    def fence(self) -> Fence | None:
        if not self.epochs or self.count is None:
            return None
        return Fence.over(self.holder, self.epochs, self.count)

    def _campaign(self, partition: int, count: int) -> Campaign:
        campaign = self._campaigns.get(partition)
        if campaign is None:
            name = lease_name(partition, count)
            campaign = self._campaigns[partition] = Campaign(
                self._presence, self.holder, self.ttl, name=name, quiet=True
            )
        return campaign

    async def step(self) -> dict[int, int]:
        """Beat, renew, hand over, take: the partitions held afterwards."""
        if not self._member:
            self._member = await self._presence.hold(MEMBER + self.holder, 0)
            if not self._member:
                log.warning("another live process is named %s: taking no partition", self.holder)
                return {}
        async with self._presence.lease() as leases:
            if self.count is None:
                self.count = await leases.partition_count()
            count = self.count
            await leases.beat(self.holder, self.ttl)
            members = await leases.members()
            stored = {
                p: lease
                for lease in await leases.all(PREFIX)
                if (p := partition_from_lease(lease.name)) is not None
            }
            held = [(lease_name(p, count), e) for p, e in sorted(self.epochs.items())]
            renewed = await leases.renew_all(self.holder, held, self.ttl)
        live = [m.name for m in members if m.live and await self._alive(m.name)]
        if self.holder not in live:
            live.append(self.holder)
        self.members = sorted(live)
        owner = assign(count, live)
        for p in sorted(self.epochs):
            if owner.get(p) != self.holder:
                await self._hand_over(p)
            elif lease_name(p, count) not in renewed:
                await self._step(p, count)  # expired or taken meanwhile: which, it says
        self.waiting = 0
        for p in range(count):
            if p in self.epochs:
                continue
            lease = stored.get(p)
            if owner.get(p) == self.holder:
                others = lease is not None and lease.live and lease.holder != self.holder
                if others and lease is not None and lease.holder in live:
                    self.waiting += 1  # its holder hands it over at its next step
                    continue
                await self._step(p, count)  # free, lapsed, or its holder's mark is vacant
                self.waiting += p not in self.epochs
            elif lease is not None and lease.live and lease.holder == self.holder:
                # An earlier process under this name held it: free it for its owner.
                async with self._presence.lease() as leases:
                    await leases.release(lease.name, self.holder, lease.epoch)
        return dict(self.epochs)

    async def _alive(self, name: str) -> bool:
        """A member row is a live replica while its member mark is held."""
        return name == self.holder or not await self._presence.vacant(MEMBER + name, 0)

    async def _step(self, partition: int, count: int) -> None:
        epoch = await self._campaign(partition, count).step()
        if epoch is None:
            self.epochs.pop(partition, None)
            self._campaigns.pop(partition, None)
        else:
            self.epochs[partition] = epoch

    async def _hand_over(self, partition: int) -> None:
        """Release a partition assigned to another live replica: it takes epoch + 1 at
        its next step, after any pass of ours that fenced before the release commits."""
        campaign = self._campaigns.pop(partition, None)
        self.epochs.pop(partition, None)
        if campaign is not None:
            log.debug("partition %s: handed over (epoch %s)", partition, campaign.epoch)
            await campaign.resign()

    async def resign(self) -> None:
        """A clean stop: leave the membership first (nobody assigns this replica any
        more), then release every partition for the others' next step."""
        if self._member:
            async with self._presence.lease() as leases:
                await leases.leave(self.holder)
        for partition in sorted(self._campaigns):
            await self._hand_over(partition)
        if self._member:
            await self._presence.drop(MEMBER + self.holder, 0)
            self._member = False


__all__ = [
    "LEADER",
    "MEMBER",
    "PREFIX",
    "Campaign",
    "Fence",
    "PartitionCampaign",
    "acquire",
    "acquire_all",
    "fenced",
]

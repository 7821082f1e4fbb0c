"""Partitioned leadership contract (memory and PostgreSQL): replicas share the
partitions evenly, take a killed replica's at once, hand partitions over on a join and
on a clean stop at epoch + 1, and a pass under a partition set that lost one of them
raises NotLeader and writes nothing."""

from __future__ import annotations

import asyncio
from collections import Counter
from contextlib import AsyncExitStack
from datetime import timedelta

import pytest

from domain.errors import NotLeader
from domain.partitions import DEFAULT_PARTITIONS, PREFIX, assign, partition_of
from domain.ports import NamedLease
from service.loops.leadership import Fence, PartitionCampaign
from service.loops.materialiser import materialise_due
from service.usecases.replicas import replicas_report
from tests.builders import ACME
from tests.contract.support import Subject
from tests.contract.test_dependencies import pair

TTL = timedelta(minutes=5)  # nothing here waits for a lease to expire
ALL = list(range(DEFAULT_PARTITIONS))


async def join(stack: AsyncExitStack, subject: Subject, name: str) -> PartitionCampaign:
    presence = await stack.enter_async_context(subject.system.presence())
    return PartitionCampaign(presence, name, TTL)


async def settle(*campaigns: PartitionCampaign, rounds: int = 3) -> None:
    """Step every campaign in turn: a hand-over takes the giver's step, then the
    taker's."""
    for _ in range(rounds):
        for campaign in campaigns:
            await campaign.step()


async def leases(subject: Subject) -> dict[int, NamedLease]:
    async with subject.system.system() as tx:
        return {int(n.name.removeprefix(PREFIX)): n for n in await tx.leader.all(PREFIX)}


def disjoint_and_whole(*campaigns: PartitionCampaign) -> None:
    held = [p for c in campaigns for p in c.epochs]
    assert sorted(held) == ALL


async def test_one_replica_alone_holds_every_partition_and_renews_them(subject: Subject) -> None:
    async with AsyncExitStack() as stack:
        a = await join(stack, subject, "a")
        assert await a.step() == dict.fromkeys(ALL, 1)
        assert await a.step() == dict.fromkeys(ALL, 1)  # renewed, same epochs
        assert a.members == ["a"]
        fence = a.fence
        assert fence is not None
        assert fence.partitions == ALL
        stored = await leases(subject)
        assert {(lease.holder, lease.epoch, lease.live) for lease in stored.values()} == {
            ("a", 1, True)
        }


async def test_a_joining_replica_gets_its_share_handed_over_at_the_next_epoch(
    subject: Subject,
) -> None:
    """A holds all; B and then C join: A hands over what the assignment gives them
    (released, then taken at epoch 2), so all three hold an even, disjoint share, each
    partition at the epoch its moves gave it. A's pass under its old set raises
    NotLeader and writes nothing; under its new set it materialises its own."""
    first, _, _ = await pair(subject)  # a due schedule in some partition
    async with AsyncExitStack() as stack:
        a = await join(stack, subject, "a")
        await a.step()
        before = a.fence
        assert before is not None
        b = await join(stack, subject, "b")
        assert await b.step() == {}  # A still holds every lease: B waits
        await settle(a, b)
        disjoint_and_whole(a, b)
        assert Counter(len(c.epochs) for c in (a, b)) == Counter({32: 2})
        assert set(b.epochs.values()) == {2}  # handed over: released, taken at epoch + 1
        assert set(a.epochs.values()) == {1}  # kept: never re-taken
        c = await join(stack, subject, "c")
        await settle(a, b, c)
        disjoint_and_whole(a, b, c)
        assert sorted(len(x.epochs) for x in (a, b, c)) == [21, 21, 22]
        owner = assign(DEFAULT_PARTITIONS, ["a", "b", "c"])
        for campaign in (a, b, c):
            assert all(owner[p] == campaign.holder for p in campaign.epochs)
            assert campaign.members == ["a", "b", "c"]
        stored = await leases(subject)
        for campaign in (a, b, c):
            for p, epoch in campaign.epochs.items():
                assert (stored[p].holder, stored[p].epoch, stored[p].live) == (
                    campaign.holder,
                    epoch,
                    True,
                )
        # A's pass as it was before the joins: some of its partitions moved on.
        with pytest.raises(NotLeader):
            await materialise_due(subject.system, fence=before, horizon=timedelta(0))
        async with subject.db.transaction(ACME) as tx:
            assert (await tx.schedules.get(first.id)).next_fire_at == first.next_fire_at
        home = owner[partition_of(first.id, DEFAULT_PARTITIONS)]
        leader = next(x for x in (a, b, c) if x.holder == home)
        assert leader.fence is not None
        made = await materialise_due(subject.system, fence=leader.fence, horizon=timedelta(0))
        assert made.schedules >= 1
        async with subject.db.transaction(ACME) as tx:
            assert (await tx.schedules.get(first.id)).next_fire_at != first.next_fire_at


async def test_a_killed_replicas_partitions_are_taken_at_once(subject: Subject) -> None:
    """Three share the partitions; C's session ends without a word (its membership row
    and leases still live): A and B see its member mark vacant, share its partitions out
    at their next steps and take each at epoch + 1 without waiting for the ttl."""
    async with AsyncExitStack() as outer:
        a = await join(outer, subject, "a")
        b = await join(outer, subject, "b")
        async with AsyncExitStack() as inner:
            c = await join(inner, subject, "c")
            await settle(a, b, c)
            disjoint_and_whole(a, b, c)
            lost = dict(c.epochs)
            assert lost
        # C is gone; its rows are not.
        async with subject.system.system() as tx:
            members = {m.name: m.live for m in await tx.leader.members()}
        assert members == {"a": True, "b": True, "c": True}
        await settle(a, b, rounds=1)
        disjoint_and_whole(a, b)
        assert a.members == b.members == ["a", "b"]
        for p, epoch in lost.items():
            assert {**a.epochs, **b.epochs}[p] == epoch + 1
        report = await replicas_report(subject.system)
        assert report.unleased() == []
        shares = {share.name: share for share in report.replicas}
        assert shares["c"].partitions == {}
        assert shares["a"].partitions == a.epochs


async def test_a_clean_stop_hands_every_partition_over(subject: Subject) -> None:
    """B resigns: it leaves the membership and releases its leases, so A takes them at
    its next step, at epoch + 1; B's fence then fails."""
    async with AsyncExitStack() as stack:
        a = await join(stack, subject, "a")
        b = await join(stack, subject, "b")
        await settle(a, b)
        given = dict(b.epochs)
        old = b.fence
        assert old is not None
        await b.resign()
        assert b.epochs == {}
        await a.step()
        assert a.epochs.keys() == set(ALL)
        assert all(a.epochs[p] == epoch + 1 for p, epoch in given.items())
        async with subject.system.system() as tx:
            assert [m.name for m in await tx.leader.members()] == ["a"]
        with pytest.raises(NotLeader):
            await materialise_due(subject.system, fence=old)


async def test_a_fence_of_no_partition_guards_nothing(subject: Subject) -> None:
    with pytest.raises(NotLeader):
        await materialise_due(subject.system, fence=Fence("nobody", ()))


async def test_a_replica_restarted_under_its_name_frees_what_is_no_longer_its(
    subject: Subject,
) -> None:
    """A held every partition and was killed; it comes back under the same name as B
    joins. The new A takes its share over from its vacant marks and releases the rest
    (leases under its name it does not hold), which B then takes: each at epoch 2."""
    async with AsyncExitStack() as stack:
        b = await join(stack, subject, "b")
        async with AsyncExitStack() as first_life:
            old = await join(first_life, subject, "a")
            await old.step()
            await b.step()
            assert b.waiting == 32  # held by a live replica: wait for its hand-over
        a = await join(stack, subject, "a")
        await a.step()
        assert len(a.epochs) == 32  # its own share, from the vacant marks
        await b.step()
        disjoint_and_whole(a, b)
        assert b.waiting == 0
        assert set(a.epochs.values()) == set(b.epochs.values()) == {2}
        assert len(b.epochs) == 32


async def test_a_frozen_replicas_partitions_are_taken_once_its_leases_expire(
    subject: Subject,
) -> None:
    """A stops stepping (frozen: its session, and so its marks, live on). Past the ttl
    its membership and leases have lapsed: B takes every partition at the next epoch.
    A, resumed, learns it lost them, its old fence fails, and B hands its share back."""
    ttl = timedelta(seconds=2)
    async with AsyncExitStack() as stack:
        a = PartitionCampaign(await stack.enter_async_context(subject.system.presence()), "a", ttl)
        b = PartitionCampaign(await stack.enter_async_context(subject.system.presence()), "b", ttl)
        await settle(a, b)
        disjoint_and_whole(a, b)
        frozen = a.fence
        assert frozen is not None
        lost = dict(a.epochs)
        await asyncio.sleep(ttl.total_seconds() + 0.2)  # real time: the leases lapse
        await b.step()
        assert b.epochs.keys() == set(ALL)
        assert all(b.epochs[p] == epoch + 1 for p, epoch in lost.items())
        await a.step()  # resumed: a member again, its share still B's
        assert a.epochs == {}
        assert a.waiting == 32
        with pytest.raises(NotLeader):
            await materialise_due(subject.system, fence=frozen)
        await settle(b, a, rounds=2)
        disjoint_and_whole(a, b)
        assert len(a.epochs) == len(b.epochs) == 32

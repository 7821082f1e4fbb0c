"""Leadership contract (memory and PostgreSQL): every leader-only pass is fenced in its
own transaction, and a killed leader's vacant presence lets another replica take over
before its lease expires."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from adapters.memory.publisher import RecordingPublisher
from domain.errors import NotLeader
from domain.ports import LEADER, LeaderLease
from domain.run import RunStatus
from domain.worker import WorkerState
from service.loops.leadership import Campaign, Fence, acquire_all
from service.loops.materialiser import materialise_due
from service.loops.relay import relay_once
from service.usecases import runs as use
from service.usecases import worker_registry as registry
from service.usecases.dependencies import resolve_waiting
from tests.builders import ACME, job
from tests.contract.support import Subject
from tests.contract.test_dependencies import EVENT, W, pair, status_of
from tests.contract.test_run_queue import W1, fire, seed
from tests.contract.test_workers import register

MINUTE = timedelta(minutes=1)
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


async def deposed(subject: Subject, holder: str = "r") -> tuple[Fence, Fence]:
    """``holder`` led every lease, they lapsed and another replica took them over: the
    old fence and the successor's."""
    async with subject.system.system() as tx:
        old = await acquire_all(tx.leader, holder, MINUTE)
        assert old is not None
        await release_all(tx.leader, old)
        successor = await acquire_all(tx.leader, "successor", MINUTE)
    assert successor is not None
    assert successor.leases == tuple((name, epoch + 1) for name, epoch in old.leases)
    return old, successor


async def release_all(lease: LeaderLease, fence: Fence) -> None:
    for name, epoch in fence.leases:
        await lease.release(name, fence.holder, epoch)


async def test_a_deposed_leaders_rescue_sweep_and_relay_change_nothing(subject: Subject) -> None:
    """A run whose lease lapsed, a silent worker and pending events: the deposed
    leader's rescue, sweep and relay raise NotLeader and leave all three as they were."""
    j = job()
    await seed(subject, j, [fire(j)])
    (claimed,) = await use.claim(
        subject.db,
        worker_id=W1,
        capabilities=frozenset({"EVENT"}),
        limit=1,
        tenant_id=ACME,
        lease=timedelta(milliseconds=-1),  # already lapsed
    )
    quiet = await register(subject, "quiet")
    async with subject.db.transaction(ACME) as tx:
        await tx.workers.save(replace(quiet, last_heartbeat_at=LONG_AGO))
    async with subject.system.system() as tx:
        pending = await tx.outbox.count()
    assert pending > 0
    old, successor = await deposed(subject)
    publisher = RecordingPublisher()
    with pytest.raises(NotLeader):
        await use.rescue(subject.system, fence=old, limit=10)
    with pytest.raises(NotLeader):
        await registry.sweep_silent(subject.system, fence=old)
    with pytest.raises(NotLeader):
        await relay_once(subject.system, publisher, fence=old)
    async with subject.db.transaction(ACME) as tx:
        assert (await tx.runs.get(claimed.id)).status is RunStatus.RUNNING
        assert (await tx.workers.get(quiet.id)).state is WorkerState.ONLINE
    async with subject.system.system() as tx:
        assert await tx.outbox.count() == pending  # no outbox row deleted
    assert publisher.stream == []  # checked before publishing anything
    assert [r.id for r in await use.rescue(subject.system, fence=successor, limit=10)] == [
        claimed.id
    ]


async def test_a_deposed_leaders_resolver_releases_nothing(subject: Subject) -> None:
    """B waits for A; A succeeded: the deposed leader's resolver raises NotLeader and B
    stays waiting; the new leader's releases it."""
    _, b, _ = await pair(subject)
    async with subject.system.system() as tx:
        old = await acquire_all(tx.leader, "r", MINUTE)
    assert old is not None
    await materialise_due(subject.system, fence=old, horizon=timedelta(0))
    claimed = await use.claim(subject.db, worker_id=W, capabilities=EVENT, limit=5, tenant_id=ACME)
    await use.record(subject.db, [use.Report(claimed[0])], jobs={}, tenant_id=ACME)
    async with subject.system.system() as tx:
        await release_all(tx.leader, old)
        successor = await acquire_all(tx.leader, "successor", MINUTE)
    assert successor is not None
    with pytest.raises(NotLeader):
        await resolve_waiting(subject.system, fence=old)
    assert await status_of(subject, b) is RunStatus.WAITING
    assert await resolve_waiting(subject.system, fence=successor) == 1
    assert await status_of(subject, b) is RunStatus.PENDING


async def test_a_deposed_leaders_materialiser_inserts_nothing(subject: Subject) -> None:
    """A due schedule: the deposed leader's pass raises NotLeader, no run is inserted
    and the schedule does not advance."""
    a, _, _ = await pair(subject)
    old, successor = await deposed(subject)
    with pytest.raises(NotLeader):
        await materialise_due(subject.system, fence=old)
    async with subject.db.transaction(ACME) as tx:
        assert (await tx.schedules.get(a.id)).next_fire_at == a.next_fire_at
    made = await materialise_due(subject.system, fence=successor)
    assert made.runs == 2


async def test_a_vacant_presence_hands_a_live_lease_over_at_once(subject: Subject) -> None:
    """A leads with a long ttl; while its presence lives B cannot take over; once its
    presence is gone (process killed, session ended), B takes over at the next step
    without waiting for the lease to expire, and A's fence fails."""
    async with subject.system.presence() as b_presence:
        b = Campaign(b_presence, "b", timedelta(minutes=5))
        async with subject.system.presence() as a_presence:
            a = Campaign(a_presence, "a", timedelta(minutes=5))
            first = await a.step()
            assert first is not None
            assert await a.step() == first  # renewed
            assert await b.step() is None
        # A's session ended without a word: its lease is still live.
        async with subject.system.system() as tx:
            assert await tx.leader.current(LEADER) == ("a", first)
        assert await b.step() == first + 1
        assert await b.step() == first + 1
    with pytest.raises(NotLeader):
        await materialise_due(subject.system, fence=Fence.of("a", first))


async def test_a_live_presence_does_not_outlast_the_lease(subject: Subject) -> None:
    """A frozen leader keeps its presence but not its lease: once the lease expired, B
    takes over; A, resumed, learns it lost and B stays leader."""
    async with (
        subject.system.presence() as a_presence,
        subject.system.presence() as b_presence,
    ):
        a = Campaign(a_presence, "a", timedelta(minutes=5))
        b = Campaign(b_presence, "b", timedelta(minutes=5))
        first = await a.step()
        assert first is not None
        async with subject.system.system() as tx:  # "frozen" past its ttl
            await tx.leader.release(LEADER, "a", first)
        assert await b.step() == first + 1
        assert await a.step() is None
        assert a.epoch is None
        assert await b.step() == first + 1


async def test_a_clean_resign_lets_another_replica_lead_at_its_next_step(
    subject: Subject,
) -> None:
    """A resigns (a clean stop) and B, whose presence lives, takes over at once."""
    async with (
        subject.system.presence() as a_presence,
        subject.system.presence() as b_presence,
    ):
        a = Campaign(a_presence, "a", timedelta(minutes=5))
        b = Campaign(b_presence, "b", timedelta(minutes=5))
        first = await a.step()
        assert first is not None
        await a.resign()
        assert await b.step() == first + 1

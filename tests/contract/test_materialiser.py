"""Leader lease and materialiser contract (memory and PostgreSQL)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from domain.errors import NotLeader
from domain.events import DomainEvent, EventType
from domain.ids import ScheduleId, run_id_for
from domain.run import RunStatus
from domain.schedule import Schedule, ScheduleState
from domain.timing import Timing
from domain.triggers import FixedDelayTrigger, OneShotTrigger
from service.materialiser import LEADER, materialise_due
from service.schedules import create_schedule
from tests.contract.support import ACME, Subject, job

TTL = timedelta(seconds=30)


async def lead(subject: Subject, holder: str = "replica-a", ttl: timedelta = TTL) -> int:
    async with subject.system.system() as tx:
        epoch = await tx.leader.acquire(LEADER, holder, ttl)
    assert epoch is not None
    return epoch


async def overdue_schedule(subject: Subject, minutes: int) -> Schedule:
    """A per-minute schedule whose next fire was ``minutes`` minutes ago (downtime)."""
    j = job()
    async with subject.db.transaction(ACME) as tx:
        await tx.jobs.add(j)
        now = await tx.now()
    start = (now - timedelta(minutes=minutes)).replace(microsecond=0)
    schedule, _ = Schedule.create(
        now=now,
        id=ScheduleId(uuid.uuid4()),
        tenant_id=ACME,
        name="every-minute",
        job_id=j.id,
        timing=Timing(trigger=FixedDelayTrigger(every=timedelta(minutes=1)), start_at=start),
        next_fire_at=start,
    )
    async with subject.db.transaction(ACME) as tx:
        await tx.schedules.add(schedule)
    return schedule


async def test_leader_lease_renews_fences_and_hands_over(subject: Subject) -> None:
    """One leader at a time; after expiry a new holder gets a larger epoch and the old
    one's fenced writes fail."""
    first = await lead(subject, "a")
    assert await lead(subject, "a") == first  # renewal keeps the epoch
    async with subject.system.system() as tx:
        assert await tx.leader.acquire(LEADER, "b", TTL) is None
    await lead(subject, "a", ttl=timedelta(0))  # let it lapse at once
    second = await lead(subject, "b")
    assert second == first + 1
    with pytest.raises(NotLeader):
        await materialise_due(subject.system, holder="a", epoch=first)
    await materialise_due(subject.system, holder="b", epoch=second)


async def test_every_due_fire_becomes_one_run_and_the_schedule_advances(subject: Subject) -> None:
    """11 fires were due (t-10m .. t); each becomes a run with its key-derived id."""
    schedule = await overdue_schedule(subject, minutes=10)
    epoch = await lead(subject)
    result = await materialise_due(subject.system, holder="replica-a", epoch=epoch)
    assert (result.schedules, result.runs) == (1, 11)
    async with subject.db.transaction(ACME) as tx:
        stored = await tx.schedules.get(schedule.id)
        assert stored.fire_count == 11
        assert stored.next_fire_at is not None
        assert stored.next_fire_at > await tx.now()
        assert schedule.next_fire_at is not None
        for k in range(11):
            nominal = schedule.next_fire_at + timedelta(minutes=k)
            run = await tx.runs.get(run_id_for(ACME, schedule.id, nominal))
            assert run.status is RunStatus.PENDING
    again = await materialise_due(subject.system, holder="replica-a", epoch=epoch)
    assert (again.schedules, again.runs) == (0, 0)


async def test_a_stale_replay_creates_no_duplicate_runs(subject: Subject) -> None:
    """Even if a schedule's progress were lost, the run key keeps each fire once."""
    schedule = await overdue_schedule(subject, minutes=3)
    epoch = await lead(subject)
    first = await materialise_due(subject.system, holder="replica-a", epoch=epoch)
    assert first.runs == 4
    async with subject.db.transaction(ACME) as tx:
        stored = await tx.schedules.get(schedule.id)
        rewound = stored.advance(
            next_fire_at=schedule.next_fire_at, dispatched=0, now=stored.updated_at
        )
        await tx.schedules.save(rewound, expected_version=stored.version)
    replay = await materialise_due(subject.system, holder="replica-a", epoch=epoch)
    assert (replay.schedules, replay.runs) == (1, 0)


async def test_concurrent_passes_split_the_work(subject: Subject) -> None:
    """Two passes at once (SKIP LOCKED) never materialise a fire twice."""
    for i in range(6):
        j = job(name=f"job-{i}")
        async with subject.db.transaction(ACME) as tx:
            await tx.jobs.add(j)
            now = await tx.now()
        start = (now - timedelta(minutes=2)).replace(microsecond=0)
        schedule, _ = Schedule.create(
            now=now,
            id=ScheduleId(uuid.uuid4()),
            tenant_id=ACME,
            name=f"s-{i}",
            job_id=j.id,
            timing=Timing(trigger=FixedDelayTrigger(every=timedelta(minutes=1)), start_at=start),
            next_fire_at=start,
        )
        async with subject.db.transaction(ACME) as tx:
            await tx.schedules.add(schedule)
    epoch = await lead(subject)
    passes = await asyncio.gather(
        *(materialise_due(subject.system, holder="replica-a", epoch=epoch) for _ in range(2))
    )
    assert sum(p.runs for p in passes) == 6 * 3


async def test_one_shot_completes_after_its_fire(subject: Subject) -> None:
    """A one-shot due now yields one run, then the schedule completes (with its event)."""
    j = job()
    async with subject.db.transaction(ACME) as tx:
        await tx.jobs.add(j)
        now = await tx.now()
    at = (now + timedelta(seconds=3)).isoformat()
    schedule = await create_schedule(
        subject.db,
        tenant_id=ACME,
        name="once",
        job_id=j.id,
        timing=Timing(trigger=OneShotTrigger.parse(at)),
    )
    assert schedule.next_fire_at is not None
    epoch = await lead(subject)
    result = await materialise_due(
        subject.system, holder="replica-a", epoch=epoch, horizon=timedelta(seconds=5)
    )
    assert (result.runs, result.completed) == (1, 1)
    async with subject.db.transaction(ACME) as tx:
        stored = await tx.schedules.get(schedule.id)
        run = await tx.runs.get(run_id_for(ACME, schedule.id, schedule.next_fire_at))
    assert stored.state is ScheduleState.COMPLETED
    assert run.status is RunStatus.SCHEDULED  # dispatch is still ~3 s ahead
    committed = await subject.committed_events()
    assert len(committed) == len(set(committed))
    completed_event = DomainEvent.of(
        EventType.SCHEDULE_COMPLETED,
        tenant_id=ACME,
        aggregate_id=schedule.id,
        revision=stored.version,
        occurred_at=stored.updated_at,
    )
    assert completed_event.id in committed


async def test_create_schedule_starts_from_now_and_completes_past_one_shots(
    subject: Subject,
) -> None:
    """A new schedule owes nothing from before its creation: a one-shot older than its
    catchup window completes unfired, a just-missed one still fires late."""
    j = job()
    async with subject.db.transaction(ACME) as tx:
        await tx.jobs.add(j)
    past = await create_schedule(
        subject.db,
        tenant_id=ACME,
        name="gone",
        job_id=j.id,
        timing=Timing(trigger=OneShotTrigger.parse("2020-01-01T00:00:00+00:00")),
    )
    assert (past.state, past.next_fire_at) == (ScheduleState.COMPLETED, None)
    async with subject.db.transaction(ACME) as tx:
        now = await tx.now()
    late = await create_schedule(
        subject.db,
        tenant_id=ACME,
        name="just-missed",
        job_id=j.id,
        timing=Timing(trigger=OneShotTrigger.parse((now - timedelta(seconds=5)).isoformat())),
    )
    assert late.state is ScheduleState.ENABLED
    assert late.next_fire_at == (now - timedelta(seconds=5))

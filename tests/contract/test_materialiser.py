"""Leader lease and materialiser contract (memory and PostgreSQL)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest

from domain.errors import NotLeader
from domain.events import DomainEvent, EventType
from domain.ids import ScheduleId, run_id_for
from domain.ports import RunFilter
from domain.run import RunStatus
from domain.schedule import MisfirePolicy, OverlapPolicy, Schedule, ScheduleState
from domain.timing import Timing
from domain.triggers import FixedDelayTrigger, OneShotTrigger
from service.loops.leadership import Fence, acquire, acquire_all
from service.loops.materialiser import LEADER, materialise_due
from service.usecases.commands import CreateSchedule
from service.usecases.schedules import create_schedule
from tests.builders import ACME, job
from tests.contract.support import Subject

TTL = timedelta(seconds=30)


async def lead(subject: Subject, holder: str = "replica-a", ttl: timedelta = TTL) -> Fence:
    async with subject.system.system() as tx:
        epoch = await acquire_all(tx.leader, holder, ttl)
    assert epoch is not None
    return epoch


async def overdue_schedule(subject: Subject, minutes: int, **policies: Any) -> Schedule:
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
        **policies,
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
        assert await acquire(tx.leader, LEADER, "b", TTL) is None
        assert await acquire_all(tx.leader, "b", TTL) is None
    await lead(subject, "a", ttl=timedelta(0))  # let it lapse at once
    second = await lead(subject, "b")
    assert second.leases == tuple((name, epoch + 1) for name, epoch in first.leases)
    with pytest.raises(NotLeader):
        await materialise_due(subject.system, fence=first)
    await materialise_due(subject.system, fence=second)


async def statuses(subject: Subject, schedule: Schedule, fires: int) -> list[RunStatus]:
    """The status of each per-minute fire from the schedule's first one, in order."""
    assert schedule.next_fire_at is not None
    async with subject.db.transaction(ACME) as tx:
        return [
            (
                await tx.runs.get(run_id_for(ACME, schedule.id, schedule.next_fire_at + k * MINUTE))
            ).status
            for k in range(fires)
        ]


MINUTE = timedelta(minutes=1)
P, M = RunStatus.PENDING, RunStatus.MISSED


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (MisfirePolicy.RUN_ALL, [P] * 11),
        (MisfirePolicy.RUN_ONCE, [M] * 9 + [P, P]),
        (MisfirePolicy.SKIP, [M] * 10 + [P]),
    ],
)
async def test_after_downtime_the_misfire_policy_accounts_for_every_fire(
    subject: Subject, policy: MisfirePolicy, expected: list[RunStatus]
) -> None:
    """11 fires were due (t-10m .. t): the 10 late ones follow the policy, the on-time
    one runs; every fire is one record and the schedule moves past them all."""
    schedule = await overdue_schedule(
        subject, minutes=10, misfire_policy=policy, overlap_policy=OverlapPolicy.ALLOW
    )
    epoch = await lead(subject)
    result = await materialise_due(subject.system, fence=epoch)
    assert (result.schedules, result.runs) == (1, 11)
    assert await statuses(subject, schedule, 11) == expected
    async with subject.db.transaction(ACME) as tx:
        stored = await tx.schedules.get(schedule.id)
        assert stored.fire_count == 11
        assert stored.next_fire_at is not None
        assert stored.next_fire_at > await tx.now()
        missed = [r for r in await tx.runs.list(RunFilter(), after=None, limit=50) if r.status is M]
    assert {r.reason for r in missed} <= {"misfire"}
    again = await materialise_due(subject.system, fence=epoch)
    assert (again.schedules, again.runs) == (0, 0)


async def test_fires_older_than_the_catchup_window_are_never_run(subject: Subject) -> None:
    """run_all with a 5.5 min window: the 5 fires older than it are missed, the rest run."""
    schedule = await overdue_schedule(
        subject,
        minutes=10,
        misfire_policy=MisfirePolicy.RUN_ALL,
        catchup_window=timedelta(minutes=5, seconds=30),
        overlap_policy=OverlapPolicy.ALLOW,
    )
    await materialise_due(subject.system, fence=await lead(subject))
    assert await statuses(subject, schedule, 11) == [M] * 5 + [P] * 6


async def test_missed_fires_beyond_max_catchup_are_counted_in_one_summary(
    subject: Subject,
) -> None:
    """skip, max_catchup 3: the latest 3 late fires are recorded one by one and the 7
    older ones by one summary record; with the on-time run, 3 + 7 + 1 = 11 fires."""
    schedule = await overdue_schedule(
        subject, minutes=10, misfire_policy=MisfirePolicy.SKIP, max_catchup=3
    )
    await materialise_due(subject.system, fence=await lead(subject))
    assert schedule.next_fire_at is not None
    async with subject.db.transaction(ACME) as tx:
        runs = await tx.runs.list(RunFilter(), after=None, limit=50)
    summary = [r for r in runs if r.missed_count]
    single = [r for r in runs if r.status is M and not r.missed_count]
    assert [r.status for r in runs if r.status is not M] == [P]
    assert [r.nominal_at for r in sorted(single, key=lambda r: r.nominal_at)] == [
        schedule.next_fire_at + k * MINUTE for k in (7, 8, 9)
    ]
    assert len(summary) == 1
    assert summary[0].missed_count == 7
    assert summary[0].nominal_at == schedule.next_fire_at + 6 * MINUTE  # the latest of the 7
    assert summary[0].reason is not None
    assert "7 missed fires" in summary[0].reason
    assert len(runs) == 5


async def test_a_fire_late_by_less_than_the_threshold_is_not_a_misfire(subject: Subject) -> None:
    """The tail of an ordinary burst (a few seconds late) runs even under ``skip``."""
    schedule = await overdue_schedule(
        subject, minutes=2, misfire_policy=MisfirePolicy.SKIP, overlap_policy=OverlapPolicy.ALLOW
    )
    await materialise_due(
        subject.system,
        fence=await lead(subject),
        misfire_threshold=timedelta(minutes=5),
    )
    assert await statuses(subject, schedule, 3) == [P, P, P]


async def test_a_stale_replay_creates_no_duplicate_runs(subject: Subject) -> None:
    """Even if a schedule's progress were lost, the run key keeps each fire once."""
    schedule = await overdue_schedule(subject, minutes=3)
    epoch = await lead(subject)
    first = await materialise_due(subject.system, fence=epoch)
    assert first.runs == 4
    async with subject.db.transaction(ACME) as tx:
        stored = await tx.schedules.get(schedule.id)
        rewound = stored.advance(
            next_fire_at=schedule.next_fire_at, dispatched=0, now=stored.updated_at
        )
        await tx.schedules.save(rewound, expected_version=stored.version)
    replay = await materialise_due(subject.system, fence=epoch)
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
    passes = await asyncio.gather(*(materialise_due(subject.system, fence=epoch) for _ in range(2)))
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
        CreateSchedule(
            tenant_id=ACME,
            name="once",
            job_id=j.id,
            timing=Timing(trigger=OneShotTrigger.parse(at)),
        ),
    )
    assert schedule.next_fire_at is not None
    epoch = await lead(subject)
    result = await materialise_due(subject.system, fence=epoch, horizon=timedelta(seconds=5))
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
        CreateSchedule(
            tenant_id=ACME,
            name="gone",
            job_id=j.id,
            timing=Timing(trigger=OneShotTrigger.parse("2020-01-01T00:00:00+00:00")),
        ),
    )
    assert (past.state, past.next_fire_at) == (ScheduleState.COMPLETED, None)
    async with subject.db.transaction(ACME) as tx:
        now = await tx.now()
    late = await create_schedule(
        subject.db,
        CreateSchedule(
            tenant_id=ACME,
            name="just-missed",
            job_id=j.id,
            timing=Timing(trigger=OneShotTrigger.parse((now - timedelta(seconds=5)).isoformat())),
        ),
    )
    assert late.state is ScheduleState.ENABLED
    assert late.next_fire_at == (now - timedelta(seconds=5))

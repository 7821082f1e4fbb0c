"""Overlap policies (docs/semantics.md, *Overlap*) in the materialiser and the claim, over memory
and Postgres."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

import pytest

from domain.ids import ScheduleId, WorkerId, run_id_for
from domain.job import Priority
from domain.run import NewRun, Outcome, Run, RunStatus
from domain.schedule import OverlapPolicy, Schedule
from domain.timing import Timing
from domain.triggers import FixedDelayTrigger
from service.loops.leadership import acquire_all
from service.loops.materialiser import materialise_due
from service.usecases import runs as use
from service.usecases import worker_registry as registry
from tests.builders import ACME, job
from tests.contract.support import Subject

MINUTE = timedelta(minutes=1)
W = WorkerId(uuid.UUID(int=7))
EVENT = frozenset({"EVENT"})
P, S, C = RunStatus.PENDING, RunStatus.SKIPPED, RunStatus.CANCELLED


async def minutely(subject: Subject, policy: OverlapPolicy, back: int = 2) -> Schedule:
    """A per-minute schedule whose first fire was ``back`` minutes ago."""
    j = replace(job(), max_concurrency=None)
    async with subject.db.transaction(ACME) as tx:
        await tx.jobs.add(j)
        now = await tx.now()
    start = (now - back * MINUTE).replace(microsecond=0)
    schedule, _ = Schedule.create(
        now=now,
        id=ScheduleId(uuid.uuid4()),
        tenant_id=ACME,
        name="minutely",
        job_id=j.id,
        timing=Timing(trigger=FixedDelayTrigger(every=MINUTE), start_at=start),
        next_fire_at=start,
        overlap_policy=policy,
        max_buffered=5,
    )
    async with subject.db.transaction(ACME) as tx:
        await tx.schedules.add(schedule)
    return schedule


async def materialise(subject: Subject) -> None:
    """One pass; the misfire threshold is out of the way (these fires are not misfires)."""
    async with subject.system.system() as tx:
        epoch = await acquire_all(tx.leader, "r", timedelta(minutes=1))
    assert epoch is not None
    await materialise_due(subject.system, fence=epoch, misfire_threshold=timedelta(hours=1))


async def fires(subject: Subject, schedule: Schedule, count: int) -> list[Run]:
    assert schedule.next_fire_at is not None
    async with subject.db.transaction(ACME) as tx:
        return [
            await tx.runs.get(run_id_for(ACME, schedule.id, schedule.next_fire_at + k * MINUTE))
            for k in range(count)
        ]


@pytest.mark.parametrize(
    ("policy", "statuses", "buffered"),
    [
        # A catch-up: the fires did not overlap each other's runs, they queue.
        (OverlapPolicy.SKIP, [P, P, P], [False, True, True]),
        (OverlapPolicy.BUFFER_ONE, [P, P, P], [False, True, True]),
        (OverlapPolicy.BUFFER_ALL, [P, P, P], [False, True, True]),
        (OverlapPolicy.REPLACE, [C, C, P], [False, False, False]),
        (OverlapPolicy.ALLOW, [P, P, P], [False, False, False]),
    ],
)
async def test_three_fires_due_together_follow_the_overlap_policy(
    subject: Subject, policy: OverlapPolicy, statuses: list[RunStatus], buffered: list[bool]
) -> None:
    """Fires at t-2m, t-1m and t in one pass, nothing running before: under skip and
    buffer_one they queue one behind the other instead of skipping each other; replace
    keeps the latest (replaced ones say by what)."""
    schedule = await minutely(subject, policy)
    await materialise(subject)
    found = await fires(subject, schedule, 3)
    assert [r.status for r in found] == statuses
    assert [r.buffered for r in found] == buffered
    assert {r.reason for r in found if r.status is S} <= {"overlap"}
    for run in (r for r in found if r.status is C):
        assert run.reason is not None
        assert run.reason.startswith("replaced by the fire of")


@pytest.mark.parametrize(
    ("policy", "statuses", "buffered"),
    [
        (OverlapPolicy.SKIP, [S, S, S], [False, False, False]),
        (OverlapPolicy.BUFFER_ONE, [P, S, S], [True, False, False]),
    ],
)
async def test_a_catch_up_behind_a_run_still_active_meets_it_as_fires_on_time_do(
    subject: Subject, policy: OverlapPolicy, statuses: list[RunStatus], buffered: list[bool]
) -> None:
    """A run from before the gap is still pending: it was active at every late fire's
    time, so skip skips them all and buffer_one buffers one."""
    schedule = await minutely(subject, policy)
    assert schedule.next_fire_at is not None
    before, _ = Run.dispatched(
        NewRun(
            tenant_id=ACME,
            schedule_id=schedule.id,
            job_id=schedule.job_id,
            nominal_at=schedule.next_fire_at - MINUTE,
            dispatch_at=schedule.next_fire_at - MINUTE,
            max_attempts=1,
            priority=Priority.NORMAL,
            capability="EVENT",
            payload={},
        ),
        now=schedule.next_fire_at - MINUTE,
    )
    async with subject.db.transaction(ACME) as tx:
        assert await tx.runs.add_many([before]) == 1
    await materialise(subject)
    found = await fires(subject, schedule, 3)
    assert [r.status for r in found] == statuses
    assert [r.buffered for r in found] == buffered


async def test_buffered_fires_run_one_at_a_time_in_order(subject: Subject) -> None:
    """buffer_all: only the oldest of three is claimable; the next once it has ended."""
    schedule = await minutely(subject, OverlapPolicy.BUFFER_ALL)
    await materialise(subject)
    first, second, third = await fires(subject, schedule, 3)
    claimed = await use.claim(subject.db, worker_id=W, capabilities=EVENT, limit=10, tenant_id=ACME)
    assert [r.id for r in claimed] == [first.id]
    assert (
        await use.claim(subject.db, worker_id=W, capabilities=EVENT, limit=10, tenant_id=ACME) == []
    )
    await use.record(subject.db, [use.Report(claimed[0])], jobs={}, tenant_id=ACME)
    claimed = await use.claim(subject.db, worker_id=W, capabilities=EVENT, limit=10, tenant_id=ACME)
    assert [r.id for r in claimed] == [second.id]
    assert third.status is P


async def test_replace_cancels_a_running_run_and_its_worker_loses_the_lease(
    subject: Subject,
) -> None:
    """A running attempt is ended `cancelled` by the newer fire; the worker's next
    heartbeat reports the run lost and its late success is refused."""
    schedule = await minutely(subject, OverlapPolicy.REPLACE, back=0)
    await materialise(subject)
    await registry.register_worker(
        subject.db, worker_id=W, tenant_id=ACME, name="w", capabilities=EVENT, capacity=4
    )
    running = (
        await use.claim(subject.db, worker_id=W, capabilities=EVENT, limit=1, tenant_id=ACME)
    )[0]
    assert schedule.next_fire_at == running.nominal_at
    # The next fire (a minute on) is materialised within a two-minute horizon:
    async with subject.system.system() as tx:
        epoch = await acquire_all(tx.leader, "r", timedelta(minutes=1))
    assert epoch is not None
    await materialise_due(
        subject.system,
        fence=epoch,
        horizon=2 * MINUTE,
        misfire_threshold=timedelta(hours=1),
    )
    async with subject.db.transaction(ACME) as tx:
        cancelled = await tx.runs.get(running.id)
    assert cancelled.status is C
    assert cancelled.attempts[-1].outcome is Outcome.CANCELLED
    beat = await registry.heartbeat(
        subject.db,
        worker_id=W,
        held={running.id: running.lease_secret or ""},
        lease=MINUTE,
        tenant_id=ACME,
    )
    assert running.id in beat.lost
    written = await use.record(subject.db, [use.Report(running)], jobs={}, tenant_id=ACME)
    assert running.id not in {r.id for r in written}

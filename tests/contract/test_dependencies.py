"""Dependencies (memory and PostgreSQL): a downstream run waits for its upstream run of
the same period, starts after it succeeded, fails when it ended dead; cycles refused."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

import pytest

from domain.errors import InvalidSchedule
from domain.ids import ScheduleId, WorkerId, run_id_for
from domain.job import Job
from domain.run import RunStatus
from domain.schedule import OverlapPolicy, Schedule
from domain.timing import Timing
from domain.triggers import CronTrigger, FixedDelayTrigger
from service.loops.leadership import acquire_all
from service.loops.materialiser import materialise_due
from service.usecases import runs as use
from service.usecases.commands import CreateSchedule, UpdateSchedule
from service.usecases.dependencies import resolve_waiting
from service.usecases.schedules import create_schedule, update_schedule
from tests.builders import ACME, job, leading
from tests.contract.support import Subject

MINUTE = timedelta(minutes=1)
EVENT = frozenset({"EVENT"})
W = WorkerId(uuid.UUID(int=9))


async def pair(subject: Subject) -> tuple[Schedule, Schedule, Job]:
    """Upstream A and downstream B, both per minute from the same instant."""
    j = replace(job(), max_concurrency=None, max_attempts=1)
    async with subject.db.transaction(ACME) as tx:
        await tx.jobs.add(j)
        now = await tx.now()
    start = (now - timedelta(seconds=1)).replace(microsecond=0)
    made: list[Schedule] = []
    for name, upstreams in (("a", ()), ("b", None)):
        schedule, _ = Schedule.create(
            now=now,
            id=ScheduleId(uuid.uuid4()),
            tenant_id=ACME,
            name=name,
            job_id=j.id,
            timing=Timing(trigger=FixedDelayTrigger(every=MINUTE), start_at=start),
            next_fire_at=start,
            overlap_policy=OverlapPolicy.ALLOW,
            depends_on=(made[0].id,) if upstreams is None else (),
        )
        made.append(schedule)
    async with subject.db.transaction(ACME) as tx:
        for schedule in made:
            await tx.schedules.add(schedule)
    return made[0], made[1], j


async def materialise(subject: Subject, horizon: timedelta = timedelta(0)) -> None:
    async with subject.system.system() as tx:
        epoch = await acquire_all(tx.leader, "r", MINUTE)
    assert epoch is not None
    await materialise_due(subject.system, fence=epoch, horizon=horizon)


async def status_of(subject: Subject, schedule: Schedule, k: int = 0) -> RunStatus:
    assert schedule.next_fire_at is not None
    async with subject.db.transaction(ACME) as tx:
        run = await tx.runs.get(run_id_for(ACME, schedule.id, schedule.next_fire_at + k * MINUTE))
    return run.status


async def test_b_runs_only_after_a_succeeded_and_fails_when_a_is_dead(
    subject: Subject,
) -> None:
    """Period 1: B waits while A is pending, is released once A succeeded. Period 2: A
    ends dead, so B ends dead with DEPENDENCY_FAILED."""
    a, b, _ = await pair(subject)
    await materialise(subject)
    assert (await status_of(subject, a), await status_of(subject, b)) == (
        RunStatus.PENDING,
        RunStatus.WAITING,
    )
    assert (
        await resolve_waiting(subject.system, fence=await leading(subject.system, "r")) == 0
    )  # A has not run yet
    claimed = await use.claim(subject.db, worker_id=W, capabilities=EVENT, limit=5, tenant_id=ACME)
    assert [r.schedule_id for r in claimed] == [a.id]  # B is not claimable while waiting
    await use.record(subject.db, [use.Report(claimed[0])], jobs={}, tenant_id=ACME)
    assert await resolve_waiting(subject.system, fence=await leading(subject.system, "r")) == 1
    assert await status_of(subject, b) is RunStatus.PENDING
    # Period 2 (a minute on, materialised ahead): A fails for good.
    assert a.next_fire_at is not None
    second = a.next_fire_at + MINUTE
    await materialise(subject, horizon=2 * MINUTE)
    assert await status_of(subject, b, 1) is RunStatus.WAITING
    async with subject.system.system() as tx:  # A's second run ran and failed, no retries
        second_a = await tx.runs.get(run_id_for(ACME, a.id, second))
        started, _ = second_a.start(
            worker_id=W, token=10**9, lease_until=second + MINUTE, now=second
        )
        dead, _ = started.fail(token=10**9, error="boom", now=second, retry_in=MINUTE)
        assert dead.status is RunStatus.DEAD
        await tx.runs.save_many([dead])
    assert await resolve_waiting(subject.system, fence=await leading(subject.system, "r")) == 1
    async with subject.db.transaction(ACME) as tx:
        second_b = await tx.runs.get(run_id_for(ACME, b.id, second))
    assert second_b.status is RunStatus.DEAD
    assert second_b.reason is not None
    assert second_b.reason.startswith("DEPENDENCY_FAILED: a (")


async def test_dependencies_must_name_live_schedules_and_never_form_a_cycle(
    subject: Subject,
) -> None:
    """Unknown upstream, self-dependency and A -> B -> A are refused (422 material)."""
    j = replace(job(), max_concurrency=None)
    async with subject.db.transaction(ACME) as tx:
        await tx.jobs.add(j)
    timing = Timing(trigger=CronTrigger.parse("0 3 * * *"))
    a = await create_schedule(
        subject.db, CreateSchedule(tenant_id=ACME, name="a", job_id=j.id, timing=timing)
    )
    b = await create_schedule(
        subject.db,
        CreateSchedule(tenant_id=ACME, name="b", job_id=j.id, timing=timing, depends_on=(a.id,)),
    )
    assert b.depends_on == (a.id,)
    with pytest.raises(InvalidSchedule) as unknown:
        await create_schedule(
            subject.db,
            CreateSchedule(
                tenant_id=ACME,
                name="c",
                job_id=j.id,
                timing=timing,
                depends_on=(ScheduleId(uuid.uuid4()),),
            ),
        )
    assert unknown.value.field == "depends_on"
    for upstreams in ((b.id,), (a.id,)):
        with pytest.raises(InvalidSchedule) as refused:
            await update_schedule(
                subject.db,
                UpdateSchedule(tenant_id=ACME, schedule_id=a.id, depends_on=upstreams),
            )
        assert refused.value.field == "depends_on"

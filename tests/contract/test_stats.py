"""Run statistics (memory and PostgreSQL): counts, success rate, duration, lateness."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import NotFound
from domain.ids import JobId, ScheduleId, WorkerId
from domain.job import Priority
from domain.run import NewRun, Run, RunOrigin, RunStatus
from service.usecases.runs import run_stats
from tests.builders import ACME, GLOBEX, job, schedule
from tests.contract.support import Subject

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
S = timedelta(seconds=1)
W = WorkerId(uuid.UUID(int=3))


def fire(schedule: ScheduleId, job_id: JobId, nominal: datetime, attempts: int = 1) -> Run:
    run, _ = Run.dispatched(
        NewRun(
            tenant_id=ACME,
            schedule_id=schedule,
            job_id=job_id,
            nominal_at=nominal,
            dispatch_at=nominal,
            max_attempts=attempts,
            priority=Priority.NORMAL,
            capability="EVENT",
        ),
        now=nominal,
    )
    return run


def ran(run: Run, *, late: int, took: int, ok: bool) -> Run:
    started, _ = run.start(
        worker_id=W, token=1, lease_until=run.nominal_at + 60 * S, now=run.nominal_at + late * S
    )
    end = run.nominal_at + (late + took) * S
    if ok:
        return started.succeed(token=1, now=end)[0]
    return started.fail(token=1, error="boom", now=end, retry_in=S)[0]


async def test_stats_count_by_status_and_take_percentiles(subject: Subject) -> None:
    """One success (late 2 s, 10 s), one dead (late 4 s, 30 s), one pending, and a run
    of another schedule: the schedule's stats see its three runs only."""
    j = replace(job(), max_concurrency=None)
    mine, other = ScheduleId(uuid.uuid4()), ScheduleId(uuid.uuid4())
    a, b, c = (fire(mine, j.id, T0 + k * timedelta(minutes=1)) for k in range(3))
    d = fire(other, j.id, T0)
    async with subject.system.system() as tx:
        await tx.jobs.add(j)
        assert await tx.runs.add_many([a, b, c, d]) == 4
        await tx.runs.save_many(
            [ran(a, late=2, took=10, ok=True), ran(b, late=4, took=30, ok=False)]
        )
    # The schedules need not exist for the system's view; the tenant's API checks them.
    async with subject.system.system() as tx:
        stats = await tx.runs.stats(mine, T0)
        everything = await tx.runs.stats(None, T0)
        later = await tx.runs.stats(mine, T0 + timedelta(minutes=1, seconds=30))
    assert dict(stats.counts) == {"succeeded": 1, "dead": 1, "pending": 1}
    assert stats.success_rate == 0.5
    assert stats.duration_p50 == pytest.approx(20.0)
    assert stats.duration_p95 == pytest.approx(29.0)
    assert stats.lateness_p50 == pytest.approx(3.0)
    assert stats.lateness_p95 == pytest.approx(3.9)
    assert sum(everything.counts.values()) == 4
    assert dict(later.counts) == {"pending": 1}
    assert (later.success_rate, later.duration_p50) == (None, None)


async def test_runs_delivered_on_the_instant_path_count_in_the_timings(
    subject: Subject,
) -> None:
    """Their one attempt lives in the run row: a run published 1 s and one 3 s after its
    fire give lateness p50 2 s and a zero duration (started and ended at the publish)."""
    j = replace(job(), max_concurrency=None)
    mine = ScheduleId(uuid.uuid4())
    runs = [
        fire(mine, j.id, T0 + k * timedelta(minutes=1)).deliver_instantly(
            worker_id=W, started_at=T0 + k * timedelta(minutes=1) + late * S
        )[0]
        for k, late in ((0, 1), (1, 3))
    ]
    async with subject.system.system() as tx:
        await tx.jobs.add(j)
        assert await tx.runs.add_many(runs) == 2
        stats = await tx.runs.stats(mine, T0)
    assert dict(stats.counts) == {"succeeded": 2}
    assert stats.lateness_p50 == pytest.approx(2.0)
    assert stats.duration_p50 == pytest.approx(0.0)


async def test_an_unknown_schedule_has_no_stats(subject: Subject) -> None:
    """Per-schedule stats look the schedule up in the caller's tenant first (404)."""
    with pytest.raises(NotFound):
        await run_stats(subject.db, tenant_id=ACME, schedule_id=ScheduleId(uuid.uuid4()))


async def test_backfilled_and_manual_runs_stay_out_of_lateness(subject: Subject) -> None:
    """A backfill's and a manual run's first attempts start long after their nominal
    time by design: they count by status and duration, not in lateness."""
    j = replace(job(), max_concurrency=None)
    mine = ScheduleId(uuid.uuid4())
    on_time = fire(mine, j.id, T0)
    backfilled = replace(fire(mine, j.id, T0 + S), origin=RunOrigin.BACKFILL)
    manual = replace(fire(mine, j.id, T0 + 2 * S), origin=RunOrigin.MANUAL)
    async with subject.system.system() as tx:
        await tx.jobs.add(j)
        assert await tx.runs.add_many([on_time, backfilled, manual]) == 3
        await tx.runs.save_many(
            [
                ran(on_time, late=2, took=10, ok=True),
                ran(backfilled, late=3 * 3600, took=10, ok=True),
                ran(manual, late=600, took=10, ok=True),
            ]
        )
    async with subject.system.system() as tx:
        stats = await tx.runs.stats(mine, T0)
    assert dict(stats.counts) == {"succeeded": 3}
    assert stats.duration_p50 == pytest.approx(10.0)
    assert stats.lateness_p50 == pytest.approx(2.0)
    assert stats.lateness_p95 == pytest.approx(2.0)


async def test_a_run_keeps_the_names_it_was_made_with(subject: Subject) -> None:
    """The schedule's and job's names a run was made with are stored and read back."""
    j = replace(job(), max_concurrency=None)
    named = replace(
        fire(ScheduleId(uuid.uuid4()), j.id, T0), schedule_name="nightly", job_name="report"
    )
    unnamed = fire(ScheduleId(uuid.uuid4()), j.id, T0)
    async with subject.system.system() as tx:
        await tx.jobs.add(j)
        assert await tx.runs.add_many([named, unnamed]) == 2
    async with subject.system.system() as tx:
        back = await tx.runs.get(named.id)
        other = await tx.runs.get(unnamed.id)
    assert (back.schedule_name, back.job_name) == ("nightly", "report")
    assert (other.schedule_name, other.job_name) == (None, None)


async def test_latest_is_each_schedules_run_of_its_latest_fire_that_has_come(
    subject: Subject,
) -> None:
    """latest: per schedule the run with the latest nominal time that is not scheduled
    (a future fire); schedules without one are absent."""
    j = replace(job(), max_concurrency=None)
    stored = [schedule(j.id, name=n) for n in ("mine", "other", "empty")]
    mine, other, empty = (s.id for s in stored)
    old = fire(mine, j.id, T0)
    last = fire(mine, j.id, T0 + 60 * S)
    future = replace(
        fire(mine, j.id, T0 + 120 * S), status=RunStatus.SCHEDULED, dispatch_at=T0 + 3600 * S
    )
    theirs = fire(other, j.id, T0)
    async with subject.db.transaction(ACME) as tx:
        await tx.jobs.add(j)
        for made in stored:
            await tx.schedules.add(made)
    async with subject.system.system() as tx:
        assert await tx.runs.add_many([old, last, future, theirs]) == 4
        await tx.runs.save_many([ran(last, late=1, took=5, ok=True)])
    async with subject.db.transaction(ACME) as tx:
        found = await tx.runs.latest([mine, other, empty])
    assert set(found) == {mine, other}
    assert (found[mine].id, found[mine].status) == (last.id, RunStatus.SUCCEEDED)
    assert found[other].id == theirs.id
    async with subject.db.transaction(GLOBEX) as tx:
        assert await tx.runs.latest([mine, other]) == {}

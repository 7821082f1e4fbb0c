"""Backfill (memory and PostgreSQL): fires that never ran are run, runs that exist are
left alone, and the same request twice writes nothing new."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

import pytest

from domain.backfill import BackfillRequest
from domain.errors import InvalidRequest
from domain.ids import ScheduleId, WorkerId, run_id_for
from domain.job import Priority
from domain.ports import RunFilter
from domain.run import RunOrigin, RunStatus
from domain.schedule import MisfirePolicy, OverlapPolicy, Schedule
from domain.timing import Timing
from domain.triggers import FixedDelayTrigger
from service.loops.leadership import acquire_all
from service.loops.materialiser import materialise_due
from service.usecases import runs as use
from service.usecases.backfills import get_backfill, start_backfill
from tests.builders import ACME, job
from tests.contract.support import Subject

MINUTE = timedelta(minutes=1)


async def after_an_outage(subject: Subject) -> Schedule:
    """Per-minute fires from t-10m; one pass under misfire skip: 10 missed + 1 pending."""
    j = replace(job(), max_concurrency=None)
    async with subject.db.transaction(ACME) as tx:
        await tx.jobs.add(j)
        now = await tx.now()
    start = (now - 10 * MINUTE).replace(second=0, microsecond=0) + MINUTE
    schedule, _ = Schedule.create(
        now=now,
        id=ScheduleId(uuid.uuid4()),
        tenant_id=ACME,
        name="minutely",
        job_id=j.id,
        timing=Timing(trigger=FixedDelayTrigger(every=MINUTE), start_at=start - 5 * MINUTE),
        next_fire_at=start,
        misfire_policy=MisfirePolicy.SKIP,
        overlap_policy=OverlapPolicy.ALLOW,
    )
    async with subject.db.transaction(ACME) as tx:
        await tx.schedules.add(schedule)
    async with subject.system.system() as tx:
        epoch = await acquire_all(tx.leader, "r", MINUTE)
    assert epoch is not None
    await materialise_due(subject.system, fence=epoch, horizon=timedelta(0))
    return schedule


async def test_a_backfill_reruns_what_never_ran_and_creates_what_is_missing(
    subject: Subject,
) -> None:
    """From 5 min before the rule's first materialised fire up to the last missed one:
    5 runs created, every missed record re-armed, the pending run left alone; again:
    the same backfill, nothing written."""
    schedule = await after_an_outage(subject)
    assert schedule.next_fire_at is not None
    async with subject.db.transaction(ACME) as tx:
        before = await tx.runs.list(RunFilter(schedule_id=schedule.id), after=None, limit=100)
        now = await tx.now()
    missed = sorted(r.nominal_at for r in before if r.status is RunStatus.MISSED)
    pending = [r for r in before if r.status is RunStatus.PENDING]
    assert missed
    request = BackfillRequest(
        tenant_id=ACME,
        schedule_id=schedule.id,
        from_at=schedule.next_fire_at - 5 * MINUTE,
        to_at=now,
    )
    started = await start_backfill(subject.db, request)
    assert started.created
    done = started.backfill
    assert (done.created, done.rearmed, done.existing) == (5, len(missed), len(pending))
    assert done.planned == 5 + len(missed) + len(pending)
    async with subject.db.transaction(ACME) as tx:
        rearmed = await tx.runs.get(run_id_for(ACME, schedule.id, missed[0]))
    assert (rearmed.origin, rearmed.backfill_id, rearmed.priority) == (
        RunOrigin.BACKFILL,
        done.id,
        Priority.LOW,
    )
    assert rearmed.status in (RunStatus.PENDING, RunStatus.SCHEDULED)
    again = await start_backfill(subject.db, request)
    assert (again.created, again.backfill.id) == (False, done.id)
    backfill, progress = await get_backfill(subject.db, tenant_id=ACME, backfill_id=done.id)
    assert backfill == done
    assert sum(progress.values()) == done.created + done.rearmed
    async with subject.db.transaction(ACME) as tx:
        after = await tx.runs.list(RunFilter(schedule_id=schedule.id), after=None, limit=100)
    assert len(after) == len(before) + 5
    claimed = await use.claim(
        subject.db,
        worker_id=WorkerId(uuid.uuid4()),
        capabilities=frozenset({"EVENT"}),
        limit=1,
        tenant_id=ACME,
    )
    assert [r.id for r in claimed] == [pending[0].id]  # live work first: backfill is low


async def test_a_long_span_is_cut_at_max_runs_and_bad_spans_are_refused(
    subject: Subject,
) -> None:
    """max_runs 3: three fires, next_from is the fourth; a future `to` or an empty span
    is refused before anything is written."""
    schedule = await after_an_outage(subject)
    assert schedule.next_fire_at is not None
    first = schedule.next_fire_at - 5 * MINUTE
    cut = await start_backfill(
        subject.db,
        BackfillRequest(
            tenant_id=ACME,
            schedule_id=schedule.id,
            from_at=first,
            to_at=schedule.next_fire_at,
            max_runs=3,
        ),
    )
    assert (cut.backfill.planned, cut.backfill.next_from) == (3, first + 3 * MINUTE)
    async with subject.db.transaction(ACME) as tx:
        now = await tx.now()
    for from_at, to_at, field in [
        (first, now + MINUTE, "to"),
        (first, first, "from"),
    ]:
        with pytest.raises(InvalidRequest) as refused:
            await start_backfill(
                subject.db,
                BackfillRequest(
                    tenant_id=ACME, schedule_id=schedule.id, from_at=from_at, to_at=to_at
                ),
            )
        assert refused.value.details["field"] == field

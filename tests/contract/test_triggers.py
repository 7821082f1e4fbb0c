"""Manual triggers (memory and PostgreSQL): idempotency keys, including under races."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import timedelta

from domain.ids import ScheduleId
from domain.ports import RunFilter
from domain.run import RunOrigin, RunStatus
from domain.schedule import OverlapPolicy, Schedule
from domain.timing import Timing
from domain.triggers import FixedDelayTrigger
from service.usecases.commands import TriggerSchedule
from service.usecases.manual_triggers import trigger_schedule
from tests.builders import ACME, job
from tests.contract.support import Subject


async def hourly(subject: Subject) -> Schedule:
    j = replace(job(), max_concurrency=None)
    async with subject.db.transaction(ACME) as tx:
        await tx.jobs.add(j)
        now = await tx.now()
    schedule, _ = Schedule.create(
        now=now,
        id=ScheduleId(uuid.uuid4()),
        tenant_id=ACME,
        name="hourly",
        job_id=j.id,
        timing=Timing(trigger=FixedDelayTrigger(every=timedelta(hours=1)), start_at=now),
        next_fire_at=now + timedelta(hours=1),
        overlap_policy=OverlapPolicy.ALLOW,
    )
    async with subject.db.transaction(ACME) as tx:
        await tx.schedules.add(schedule)
    return schedule


async def test_the_same_key_sent_at_once_makes_one_run(subject: Subject) -> None:
    """Five concurrent triggers with one key: one run, every answer names it."""
    schedule = await hourly(subject)
    answers = await asyncio.gather(
        *(
            trigger_schedule(
                subject.db,
                TriggerSchedule(tenant_id=ACME, schedule_id=schedule.id, idempotency_key="k1"),
            )
            for _ in range(5)
        )
    )
    assert len({a.run.id for a in answers}) == 1
    assert sum(a.created for a in answers) == 1
    async with subject.db.transaction(ACME) as tx:
        runs = await tx.runs.list(RunFilter(schedule_id=schedule.id), after=None, limit=10)
    assert [(r.origin, r.status) for r in runs] == [(RunOrigin.MANUAL, RunStatus.PENDING)]


async def test_triggers_without_a_key_never_collide_on_the_run_key(subject: Subject) -> None:
    """Ten concurrent keyless triggers: ten runs, each with its own nominal instant."""
    schedule = await hourly(subject)
    answers = await asyncio.gather(
        *(
            trigger_schedule(subject.db, TriggerSchedule(tenant_id=ACME, schedule_id=schedule.id))
            for _ in range(10)
        )
    )
    assert all(a.created for a in answers)
    assert len({a.run.nominal_at for a in answers}) == 10
    async with subject.db.transaction(ACME) as tx:
        runs = await tx.runs.list(RunFilter(schedule_id=schedule.id), after=None, limit=20)
    assert len(runs) == 10

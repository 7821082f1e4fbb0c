"""Retention (memory and PostgreSQL): which ended runs go, and that the tenant's
system.retention schedule exists, is protected and does the work when it fires."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from domain.errors import Forbidden
from domain.ids import JobId, ScheduleId
from domain.job import Priority, TargetKind
from domain.ports import RunFilter
from domain.run import NewRun, Run, RunStatus
from domain.timing import Timing
from domain.triggers import CronTrigger
from service.usecases.commands import CreateSchedule
from service.usecases.retention import NAME, RetentionPolicy, SystemTasks, purge
from service.usecases.schedules import create_schedule, delete_schedule, pause_schedule
from tests.builders import ACME, GLOBEX, job
from tests.contract.support import Subject

DAY = timedelta(days=1)


def old_run(schedule_id: ScheduleId, job_id: JobId, nominal: datetime, status: RunStatus) -> Run:
    run, _ = Run.dispatched(
        NewRun(
            tenant_id=ACME,
            schedule_id=schedule_id,
            job_id=job_id,
            nominal_at=nominal,
            dispatch_at=nominal,
            max_attempts=1,
            priority=Priority.NORMAL,
            capability="EVENT",
        ),
        now=nominal,
    )
    return replace(run, status=status)


async def test_retention_keeps_recent_and_newest_and_never_touches_active_runs(
    subject: Subject,
) -> None:
    """Daily runs for 10 days, keep 3 days and the newest 5: the 5 newest ended runs
    and the pending one stay; the older ended ones go."""
    j = replace(job(), max_concurrency=None)
    schedule_id = ScheduleId(uuid.uuid4())
    async with subject.db.transaction(ACME) as tx:
        await tx.jobs.add(j)
        now = await tx.now()
        runs = [
            old_run(schedule_id, j.id, now - k * DAY, RunStatus.SUCCEEDED) for k in range(1, 11)
        ]
        runs.append(old_run(schedule_id, j.id, now - 20 * DAY, RunStatus.PENDING))
        await tx.runs.add_many(runs)
    deleted = await purge(subject.db, ACME, RetentionPolicy(keep_days=3, keep_last=5))
    assert deleted == 5
    async with subject.db.transaction(ACME) as tx:
        left = await tx.runs.list(RunFilter(schedule_id=schedule_id), after=None, limit=50)
    assert sorted((r.status, (now - r.nominal_at).days) for r in left) == [
        (RunStatus.PENDING, 20),
        *((RunStatus.SUCCEEDED, k) for k in range(1, 6)),
    ]


async def test_the_tenants_retention_schedule_is_created_protected_and_runs(
    subject: Subject,
) -> None:
    """The first schedule brings system.retention (daily, SYSTEM target); pausing or
    deleting it is Forbidden; its task purges only its own tenant."""
    j = replace(job(), max_concurrency=None)
    async with subject.db.transaction(ACME) as tx:
        await tx.jobs.add(j)
    await create_schedule(
        subject.db,
        CreateSchedule(
            tenant_id=ACME,
            name="nightly",
            job_id=j.id,
            timing=Timing(trigger=CronTrigger.parse("0 1 * * *")),
        ),
    )
    async with subject.db.transaction(ACME) as tx:
        retention = await tx.schedules.by_name(NAME)
        task = await tx.jobs.get(retention.job_id)
    assert retention.system
    assert task.target.kind is TargetKind.SYSTEM
    with pytest.raises(Forbidden):
        await pause_schedule(subject.db, tenant_id=ACME, schedule_id=retention.id)
    with pytest.raises(Forbidden):
        await delete_schedule(subject.db, tenant_id=ACME, schedule_id=retention.id)
    other = replace(job(GLOBEX), max_concurrency=None)
    async with subject.system.system() as tx:
        await tx.jobs.add(other)
        now = await tx.now()
        await tx.runs.add_many(
            [
                replace(
                    old_run(ScheduleId(uuid.uuid4()), other.id, now - 90 * DAY, RunStatus.DEAD),
                    tenant_id=GLOBEX,
                )
            ]
        )
        await tx.runs.add_many(
            [old_run(ScheduleId(uuid.uuid4()), j.id, now - 90 * DAY, RunStatus.DEAD)]
        )
    fired = old_run(retention.id, task.id, now, RunStatus.RUNNING)
    await SystemTasks(subject.system, RetentionPolicy(keep_days=30, keep_last=None)).execute(
        fired, task
    )
    async with subject.system.system() as tx:
        everyone = await tx.runs.list(RunFilter(), after=None, limit=50)
    assert [(r.tenant_id, r.status) for r in everyone] == [(GLOBEX, RunStatus.DEAD)]

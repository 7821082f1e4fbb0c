"""Retention as a protected system schedule: ``system.retention``.

Each tenant gets its own, created with the tenant's first schedule: a daily job (03:00
UTC) whose target is Kairos itself (``SYSTEM``), run by the scheduler's built-in pool.
It deletes the tenant's ended runs (and their attempts) whose fire is older than
``keep_days`` and that are not among their schedule's ``keep_last`` newest ended runs;
active runs are never touched. The schedule is visible in the API (``"system": true``);
changing, pausing or deleting it answers 403. The policy is the operator's, for every
tenant (``SchedulerSettings.retention``, read when the task runs); a tenant can trigger
the schedule to run now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.errors import ExecutionFailed, NotFound
from domain.events import DomainEvent
from domain.ids import JobId, ScheduleId, TenantId, new_id
from domain.job import Job, Priority, Target, TargetKind
from domain.planning import plan
from domain.ports import Database, UnitOfWork
from domain.run import Run
from domain.schedule import OverlapPolicy, Schedule
from domain.timing import Timing
from domain.triggers import CronTrigger

NAME = "system.retention"
TASK = "retention"
_BATCH = 5000


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    keep_days: int | None = 30
    keep_last: int | None = 10  # per schedule, whatever their age


async def ensure_retention(tx: UnitOfWork, tenant_id: TenantId, now: datetime) -> list[DomainEvent]:
    """Create the tenant's retention schedule (and job) if it has none; the events."""
    try:
        await tx.schedules.by_name(NAME)
        return []
    except NotFound:
        pass
    job = Job(
        id=JobId(new_id()),
        tenant_id=tenant_id,
        name=NAME,
        target=Target(kind=TargetKind.SYSTEM, config={"task": TASK}),
        priority=Priority.LOW,
        timeout=timedelta(minutes=30),
        created_at=now,
        updated_at=now,
    )
    await tx.jobs.add(job)
    timing = Timing(trigger=CronTrigger.parse("0 3 * * *"), timezone="UTC")
    first = next(iter(plan(timing, now, inclusive=True)), None)
    schedule, events = Schedule.create(
        now=now,
        id=ScheduleId(new_id()),
        tenant_id=tenant_id,
        name=NAME,
        job_id=job.id,
        timing=timing,
        overlap_policy=OverlapPolicy.SKIP,
        system=True,
        next_fire_at=first.nominal_at if first else None,
    )
    await tx.schedules.add(schedule)
    return events


async def purge(db: Database, tenant_id: TenantId, policy: RetentionPolicy) -> int:
    """One retention pass over the tenant's runs, in batches; how many were deleted."""
    keep_days, keep_last = policy.keep_days, policy.keep_last
    if keep_days is None and keep_last is None:
        return 0  # keep everything
    deleted = 0
    while True:
        async with db.transaction(tenant_id) as tx:
            older = None if keep_days is None else await tx.now() - timedelta(days=keep_days)
            gone = await tx.runs.purge(older_than=older, keep_last=keep_last, limit=_BATCH)
        deleted += gone
        if gone < _BATCH:
            return deleted


class SystemTasks:
    """The executor of ``SYSTEM`` targets: Kairos' own maintenance, in-process."""

    def __init__(self, db: Database, retention: RetentionPolicy) -> None:
        self._db = db
        self._retention = retention

    async def execute(self, run: Run, job: Job) -> None:
        task = job.target.config.get("task")
        if task != TASK:
            raise ExecutionFailed(f"unknown system task {task!r}")
        await purge(self._db, run.tenant_id, self._retention)

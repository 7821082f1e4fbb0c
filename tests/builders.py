"""Builders of test objects, one place for every suite: instants and timings, jobs and
schedules, stored jobs, the leader lease. No fakes of ports here: those live in
adapters/memory; the contract suites' per-adapter subject is tests/contract/support.py."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from domain.firing import FoldPolicy, GapPolicy
from domain.ids import JobId, ScheduleId, TenantId, new_id
from domain.job import Backoff, BackoffKind, Job, Priority, Target, TargetKind
from domain.planning import PlannedFire, plan
from domain.ports import Database
from domain.schedule import OverlapPolicy, Schedule
from domain.timing import DstPolicy, Timing, WindowPolicy
from domain.triggers import CronTrigger, RRuleTrigger
from domain.windows import ExecutionWindow
from service.loops.leadership import Fence, acquire_all

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ACME = TenantId("acme")
GLOBEX = TenantId("globex")
BERLIN = "Europe/Berlin"


def utc(  # noqa: PLR0917 - datetime's own positional order
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    microsecond: int = 0,
) -> datetime:
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=UTC)


def z(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cron(expr: str, tz: str = "UTC", **kw: Any) -> Timing:
    return Timing(trigger=CronTrigger.parse(expr), timezone=tz, **kw)


def rrule(text: str, tz: str = "UTC", **kw: Any) -> Timing:
    return Timing(trigger=RRuleTrigger.parse(text), timezone=tz, **kw)


def planned(timing: Timing, start: datetime, n: int, **kw: Any) -> list[PlannedFire]:
    return list(islice(plan(timing, start, inclusive=True, **kw), n))


def nominal(timing: Timing, start: datetime, n: int, **kw: Any) -> list[str]:
    return [z(p.nominal_at) for p in planned(timing, start, n, **kw) if p.skipped is None]


async def add_event_job(db: Database, tenant: TenantId, name: str, **fields: Any) -> Job:
    """Store a job whose EVENT target publishes on the subject ``name``."""
    async with db.transaction(tenant) as tx:
        now = await tx.now()
        job = Job(
            id=JobId(new_id()),
            tenant_id=tenant,
            name=name,
            target=Target(kind=TargetKind.EVENT, config={"subject": name}),
            created_at=now,
            updated_at=now,
            **fields,
        )
        await tx.jobs.add(job)
    return job


async def leading(db: Database, holder: str = "leader", minutes: int = 5) -> Fence:
    """Take every partition's lease and the cluster-wide one for ``holder`` (they must be
    free), as a replica alone holds them: the fence of its passes."""
    async with db.system() as tx:
        fence = await acquire_all(tx.leader, holder, timedelta(minutes=minutes))
    assert fence is not None
    return fence


def job(tenant: TenantId = ACME, name: str = "report") -> Job:
    return Job(
        id=JobId(uuid.uuid4()),
        tenant_id=tenant,
        name=name,
        target=Target(kind=TargetKind.EVENT, config={"subject": "reports.generate"}),
        max_attempts=5,
        backoff=Backoff(
            kind=BackoffKind.EXPONENTIAL,
            initial=timedelta(seconds=2),
            multiplier=3.0,
            max=timedelta(minutes=10),
        ),
        timeout=timedelta(seconds=90),
        max_concurrency=2,
        priority=Priority.HIGH,
        created_at=T0,
        updated_at=T0,
    )


def schedule(job_id: JobId, tenant: TenantId = ACME, name: str = "nightly") -> Schedule:
    created, _ = Schedule.create(
        now=T0,
        id=ScheduleId(uuid.uuid4()),
        tenant_id=tenant,
        name=name,
        job_id=job_id,
        timing=Timing(
            trigger=CronTrigger.parse("30 2 * * 1-5"),
            timezone="Europe/Berlin",
            dst=DstPolicy(gap=GapPolicy.SKIP, fold=FoldPolicy.SECOND),
            windows=(ExecutionWindow.parse("mon-fri 01:00-05:00"),),
            window_policy=WindowPolicy.SKIP,
            max_jitter=timedelta(seconds=30),
            calendar_id=None,
        ),
        payload={"report": "sales", "n": 3},
        overlap_policy=OverlapPolicy.BUFFER_ONE,
        catchup_window=timedelta(hours=6),
    )
    return created

"""Builders and the per-adapter subject shared by the contract suites."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from domain.firing import FoldPolicy, GapPolicy
from domain.ids import JobId, ScheduleId, TenantId
from domain.job import Backoff, BackoffKind, Job, Priority, Target, TargetKind
from domain.ports import Database
from domain.schedule import OverlapPolicy, Schedule
from domain.timing import DstPolicy, Timing, WindowPolicy
from domain.triggers import CronTrigger
from domain.windows import ExecutionWindow

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ACME = TenantId("acme")
GLOBEX = TenantId("globex")


@dataclass
class Subject:
    db: Database  # tenant traffic (the API's role)
    system: Database  # the scheduler's role, for cross-tenant work
    committed_events: Callable[[], Awaitable[list[uuid.UUID]]]
    owner_dsn: str | None = None  # PostgreSQL: the owner, who sees every tenant's rows


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

"""Small builders shared by tests (no fakes of ports here: those live in adapters/memory)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from domain.ids import JobId, TenantId, new_id
from domain.job import Job, Target, TargetKind
from domain.planning import PlannedFire, plan
from domain.ports import Database
from domain.timing import Timing
from domain.triggers import CronTrigger, RRuleTrigger
from service.loops.leadership import LEADER, Fence, acquire

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
    """Take the leader lease for ``holder`` (it must be free): the fence of its passes."""
    async with db.system() as tx:
        epoch = await acquire(tx.leader, LEADER, holder, timedelta(minutes=minutes))
    assert epoch is not None
    return Fence(holder, epoch)

"""Backfill use cases: start one (idempotent), read it with its progress."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.backfill import PACE, Backfill, BackfillRequest
from domain.calendar import BusinessCalendar
from domain.errors import NotFound
from domain.ids import BackfillId, TenantId
from domain.job import Priority
from domain.planning import PlannedFire, plan
from domain.ports import Database, HolidayProvider
from domain.run import NewRun, Run, RunOrigin, RunStatus
from domain.schedule import OverlapPolicy, ScheduleState
from domain.timing import Timing
from service import telemetry
from service.usecases.calendars import business_calendar

_NEVER_RAN = frozenset({RunStatus.MISSED, RunStatus.SKIPPED})


@dataclass(frozen=True, slots=True)
class Started:
    backfill: Backfill
    created: bool  # False: the same request was made before; nothing new was written


async def start_backfill(
    db: Database, request: BackfillRequest, *, holidays: HolidayProvider | None = None
) -> Started:
    """Runs for the span's fires that never ran (see ``domain.backfill``); the same
    request again answers the same backfill and writes nothing."""
    async with db.transaction(request.tenant_id) as tx:
        schedule = await tx.schedules.get(request.schedule_id)
        if schedule.state is ScheduleState.DELETED:
            raise NotFound("schedule", str(schedule.id))
        now = await tx.now()
        request.check(now)
        try:
            return Started(await tx.backfills.get(request.id), created=False)
        except NotFound:
            pass
        job = await tx.jobs.get(schedule.job_id)
        calendar = None
        if not request.ignore_calendar:
            calendar = await business_calendar(tx.calendars, schedule.timing.calendar_id, holidays)
        fires, next_from = _fires(schedule.timing, request, str(schedule.id), calendar)
        stored = {
            r.nominal_at: r
            for r in await tx.runs.at_nominals(schedule.id, [f.nominal_at for f in fires])
        }
        buffered = request.overlap_policy is OverlapPolicy.BUFFER_ALL
        traceparent = telemetry.current_traceparent()  # the request's: its runs join it
        new: list[Run] = []
        rearmed: list[Run] = []
        for i, fire in enumerate(fires):
            claimable_at = now + timedelta(seconds=i / PACE)
            old = stored.get(fire.nominal_at)
            if old is None:
                run, _ = Run.dispatched(
                    NewRun(
                        tenant_id=schedule.tenant_id,
                        schedule_id=schedule.id,
                        job_id=job.id,
                        nominal_at=fire.nominal_at,
                        dispatch_at=claimable_at,
                        max_attempts=job.max_attempts,
                        priority=Priority.LOW,
                        capability=job.capability,
                        payload=schedule.payload,
                        calendar=fire.calendar,
                        origin=RunOrigin.BACKFILL,
                        backfill_id=request.id,
                        traceparent=traceparent,
                        schedule_name=schedule.name,
                        job_name=job.name,
                    ),
                    now=now,
                    buffered=buffered,
                )
                new.append(run)
            elif old.status in _NEVER_RAN:
                rearmed.append(
                    old.rearm(
                        backfill_id=request.id,
                        available_at=claimable_at,
                        priority=Priority.LOW,
                        buffered=buffered,
                        now=now,
                    )
                )
        await tx.runs.add_many(new)
        await tx.runs.rearm_many(rearmed)
        backfill = Backfill(
            request=request,
            planned=len(fires),
            created=len(new),
            rearmed=len(rearmed),
            existing=len(fires) - len(new) - len(rearmed),
            next_from=next_from,
            created_at=now,
        )
        await tx.backfills.add(backfill)
        return Started(backfill, created=True)


def _fires(
    timing: Timing,
    request: BackfillRequest,
    schedule_id: str,
    calendar: BusinessCalendar | None,
) -> tuple[list[PlannedFire], datetime | None]:
    """The rule's dispatched fires in [from, to), at most max_runs; and the first fire
    beyond the cap (None if the span fits)."""
    fires: list[PlannedFire] = []
    fired = plan(
        timing, request.from_at, inclusive=True, calendar=calendar, schedule_id=schedule_id
    )
    for fire in fired:
        if fire.nominal_at >= request.to_at:
            break
        if fire.skipped is not None:
            continue  # DST gap, calendar or window: not a fire to run
        if len(fires) == request.max_runs:
            return fires, fire.nominal_at
        fires.append(fire)
    return fires, None


async def get_backfill(
    db: Database, *, tenant_id: TenantId, backfill_id: BackfillId
) -> tuple[Backfill, Mapping[str, int]]:
    """The backfill and how many of its runs are in each status."""
    async with db.transaction(tenant_id) as tx:
        backfill = await tx.backfills.get(backfill_id)
        return backfill, await tx.runs.backfill_progress(backfill_id)

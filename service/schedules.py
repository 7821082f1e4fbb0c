"""Schedule use cases."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.errors import InvalidSchedule
from domain.ids import JobId, ScheduleId, TenantId, new_id
from domain.planning import plan
from domain.ports import Database
from domain.schedule import DEFAULT_CATCHUP_WINDOW, Schedule
from domain.timing import Timing
from domain.triggers import EventTrigger, OneShotTrigger


async def create_schedule(
    db: Database,
    *,
    tenant_id: TenantId,
    name: str,
    job_id: JobId,
    timing: Timing,
    payload: Mapping[str, Any] | None = None,
    **policies: Any,
) -> Schedule:
    """Store a new schedule whose next fire is the first at or after the database's now.

    Fires before creation are not owed (a new schedule has no misfires), with one
    exception: a ONE_SHOT whose instant passed less than ``catchup_window`` ago (a
    request for "now" arrives a few milliseconds late) still fires, once, late.
    """
    if timing.calendar_id is not None:
        # Resolving calendars in the materialiser arrives with the calendar endpoints.
        raise InvalidSchedule("calendar_id", "schedules cannot reference calendars yet")
    async with db.transaction(tenant_id) as tx:
        await tx.jobs.get(job_id)  # NotFound before anything is written
        now = await tx.now()
        schedule_id = ScheduleId(new_id())
        start = now
        if isinstance(timing.trigger, OneShotTrigger):
            start = now - policies.get("catchup_window", DEFAULT_CATCHUP_WINDOW)
        first = next(iter(plan(timing, start, inclusive=True, schedule_id=str(schedule_id))), None)
        schedule, events = Schedule.create(
            now=now,
            id=schedule_id,
            tenant_id=tenant_id,
            name=name,
            job_id=job_id,
            timing=timing,
            payload=dict(payload or {}),
            next_fire_at=first.nominal_at if first is not None else None,
            **policies,
        )
        await tx.schedules.add(schedule)
        if first is None and not isinstance(timing.trigger, EventTrigger):
            done, more = schedule.complete(now=now)
            await tx.schedules.save(done, expected_version=schedule.version)
            events += more
            schedule = done
        await tx.outbox.append(events)
        return schedule

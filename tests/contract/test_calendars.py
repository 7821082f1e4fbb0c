"""Calendars (memory and PostgreSQL): stored whole, versioned, guarded while in use,
and used by the materialiser."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date, timedelta

import pytest

from domain.calendar import Calendar, CountryHolidays, Holiday, ICalHolidays
from domain.errors import Conflict
from domain.firing import SkipReason
from domain.ids import CalendarId, ScheduleId, run_id_for
from domain.run import RunStatus
from domain.schedule import Schedule
from domain.timing import CalendarPolicy, Timing
from domain.triggers import CronTrigger
from service.loops.leadership import acquire_all
from service.loops.materialiser import materialise_due
from tests.builders import ACME, GLOBEX, job
from tests.contract.support import Subject

ICAL = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n"


async def test_a_calendar_round_trips_and_versions(subject: Subject) -> None:
    """Holidays, weekdays and both kinds of source come back equal; a stale save is a
    Conflict; another tenant does not see it; deleting it while a schedule uses it is a
    Conflict."""
    async with subject.db.transaction(ACME) as tx:
        now = await tx.now()
        calendar = Calendar(
            id=CalendarId(uuid.uuid4()),
            tenant_id=ACME,
            name="bavaria",
            business_days=frozenset({0, 1, 2, 3}),
            holidays=(Holiday(day=date(2026, 12, 24), name="Heiligabend"),),
            sources=(CountryHolidays(country="DE", subdivision="BY"), ICalHolidays(text=ICAL)),
            created_at=now,
            updated_at=now,
        )
        await tx.calendars.add(calendar)
    async with subject.db.transaction(ACME) as tx:
        assert await tx.calendars.get(calendar.id) == calendar
        revised = calendar.revise(now=now, business_days=frozenset({0}))
        await tx.calendars.save(revised, expected_version=1)
        with pytest.raises(Conflict):
            await tx.calendars.save(revised, expected_version=1)
        assert [c.version for c in await tx.calendars.list(after=None, limit=10)] == [2]
    async with subject.db.transaction(GLOBEX) as tx:
        assert await tx.calendars.list(after=None, limit=10) == []
    j = replace(job(), max_concurrency=None)
    schedule, _ = Schedule.create(
        now=now,
        id=ScheduleId(uuid.uuid4()),
        tenant_id=ACME,
        name="uses-it",
        job_id=j.id,
        timing=Timing(trigger=CronTrigger.parse("0 9 * * *"), calendar_id=calendar.id),
        next_fire_at=now + timedelta(days=1),
    )
    async with subject.db.transaction(ACME) as tx:
        await tx.jobs.add(j)
        await tx.schedules.add(schedule)
        assert await tx.calendars.users(calendar.id) == 1
    with pytest.raises(Conflict):
        async with subject.db.transaction(ACME) as tx:
            await tx.calendars.delete(calendar.id)


async def test_the_materialiser_plans_with_the_calendar(subject: Subject) -> None:
    """A fire on a holiday under calendar_policy skip is a skipped record carrying the
    calendar's id and version."""
    async with subject.db.transaction(ACME) as tx:
        now = await tx.now()
    at = (now - timedelta(seconds=5)).replace(microsecond=0)
    calendar = Calendar(
        id=CalendarId(uuid.uuid4()),
        tenant_id=ACME,
        name="all-holiday",
        business_days=frozenset(range(7)),
        holidays=(Holiday(day=at.date(), name="today"),),
        created_at=now,
        updated_at=now,
    )
    j = replace(job(), max_concurrency=None)
    schedule, _ = Schedule.create(
        now=now,
        id=ScheduleId(uuid.uuid4()),
        tenant_id=ACME,
        name="daily",
        job_id=j.id,
        timing=Timing(
            trigger=CronTrigger.parse(f"{at.second} {at.minute} {at.hour} * * *"),
            timezone="UTC",
            calendar_id=calendar.id,
            calendar_policy=CalendarPolicy.SKIP,
        ),
        next_fire_at=at,
    )
    async with subject.db.transaction(ACME) as tx:
        await tx.calendars.add(calendar)
        await tx.jobs.add(j)
        await tx.schedules.add(schedule)
    async with subject.system.system() as tx:
        epoch = await acquire_all(tx.leader, "r", timedelta(minutes=1))
    assert epoch is not None
    await materialise_due(subject.system, fence=epoch)
    async with subject.db.transaction(ACME) as tx:
        run = await tx.runs.get(run_id_for(ACME, schedule.id, at))
    assert (run.status, run.reason) == (RunStatus.SKIPPED, SkipReason.CALENDAR.value)
    assert run.calendar == (calendar.id, 1)

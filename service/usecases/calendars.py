"""Calendar use cases: create, read, list, update (a new version), delete; and the
business-day view the planner uses.

Every change makes a new version. Schedules are planned with the calendar's current
version whenever fires are materialised or previewed, so a holiday added today moves
the next fire of every schedule that uses the calendar without touching them; each run
records the calendar id and version it was planned with.
"""

from __future__ import annotations

from collections.abc import Sequence

from domain.calendar import BusinessCalendar, Calendar
from domain.changes import kept
from domain.errors import Conflict, InvalidSchedule, NotFound
from domain.ids import CalendarId, TenantId, new_id
from domain.ports import CalendarRepository, Database, HolidayProvider, Keyset
from service.usecases.commands import CreateCalendar, UpdateCalendar


async def create_calendar(
    db: Database, command: CreateCalendar, *, holidays: HolidayProvider
) -> Calendar:
    async with db.transaction(command.tenant_id) as tx:
        now = await tx.now()
        calendar = Calendar(
            id=CalendarId(new_id()),
            tenant_id=command.tenant_id,
            name=command.name,
            business_days=command.business_days,
            holidays=command.holidays,
            sources=command.sources,
            created_at=now,
            updated_at=now,
        )
        _check_sources(calendar, holidays)
        await tx.calendars.add(calendar)
        return calendar


async def update_calendar(
    db: Database, command: UpdateCalendar, *, holidays: HolidayProvider
) -> Calendar:
    """A new version with the changes; unchanged values are a no-op (same version)."""
    async with db.transaction(command.tenant_id) as tx:
        current = await tx.calendars.get(command.calendar_id)
        name = kept(command.name, current.name)
        business_days = kept(command.business_days, current.business_days)
        days_off = kept(command.holidays, current.holidays)
        sources = kept(command.sources, current.sources)
        if (name, business_days, days_off, sources) == (
            current.name,
            current.business_days,
            current.holidays,
            current.sources,
        ):
            return current
        revised = current.revise(
            now=await tx.now(),
            name=name,
            business_days=business_days,
            holidays=days_off,
            sources=sources,
        )
        _check_sources(revised, holidays)
        await tx.calendars.save(revised, expected_version=current.version)
        return revised


async def delete_calendar(db: Database, *, tenant_id: TenantId, calendar_id: CalendarId) -> None:
    """Refused (409) while schedules use it; the answer says how many."""
    async with db.transaction(tenant_id) as tx:
        users = await tx.calendars.users(calendar_id)
        if users:
            raise Conflict(
                f"the calendar is used by {users} schedule(s)",
                calendar_id=str(calendar_id),
                schedules=users,
            )
        await tx.calendars.delete(calendar_id)


async def get_calendar(db: Database, *, tenant_id: TenantId, calendar_id: CalendarId) -> Calendar:
    async with db.transaction(tenant_id) as tx:
        return await tx.calendars.get(calendar_id)


async def list_calendars(
    db: Database, *, tenant_id: TenantId, after: Keyset | None, limit: int
) -> Sequence[Calendar]:
    async with db.transaction(tenant_id) as tx:
        return await tx.calendars.list(after=after, limit=limit)


async def calendars_named(db: Database, *, tenant_id: TenantId, name: str) -> Sequence[Calendar]:
    """The tenant's calendars called exactly ``name``, read page by page (a tenant has
    few calendars)."""
    found: list[Calendar] = []
    after: Keyset | None = None
    async with db.transaction(tenant_id) as tx:
        while True:
            batch = await tx.calendars.list(after=after, limit=500)
            found += [c for c in batch if c.name == name]
            if len(batch) < 500:
                return found
            after = (batch[-1].created_at, batch[-1].id)


async def business_calendar(
    calendars: CalendarRepository,
    calendar_id: CalendarId | None,
    holidays: HolidayProvider | None,
) -> BusinessCalendar | None:
    """The business-day view of a schedule's calendar (its current version), or None."""
    if calendar_id is None:
        return None
    return BusinessCalendar(await calendars.get(calendar_id), holidays)


async def require_calendar(calendars: CalendarRepository, calendar_id: CalendarId | None) -> None:
    """A schedule may only name a calendar of its own tenant."""
    if calendar_id is None:
        return
    try:
        await calendars.get(calendar_id)
    except NotFound:
        raise InvalidSchedule("calendar_id", f"no calendar {calendar_id}") from None


def _check_sources(calendar: Calendar, holidays: HolidayProvider) -> None:
    """A holiday source that cannot be read fails now, not at the first fire."""
    year = calendar.updated_at.year
    for source in calendar.sources:
        holidays.holidays(source, year)

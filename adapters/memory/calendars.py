"""Calendars in memory."""

from __future__ import annotations

from adapters.memory.tables import _page, _require_version, _Scoped
from adapters.postgres.codec import reloaded_calendar
from domain.calendar import Calendar
from domain.errors import Conflict, NotFound
from domain.ids import CalendarId
from domain.ports import Keyset
from domain.schedule import ScheduleState


class MemoryCalendars(_Scoped):
    def _name_taken(self, calendar: Calendar) -> bool:
        return any(
            c.name == calendar.name and c.id != calendar.id
            for (t, _), c in self._t.calendars.items()
            if t == calendar.tenant_id
        )

    async def get(self, calendar_id: CalendarId) -> Calendar:
        for (tenant, cid), calendar in self._t.calendars.items():
            if cid == calendar_id and self._visible(tenant):
                return calendar
        raise NotFound("calendar", str(calendar_id))

    async def list(self, *, after: Keyset | None, limit: int) -> list[Calendar]:
        found = [c for (t, _), c in self._t.calendars.items() if self._visible(t)]
        return _page(found, lambda c: (c.created_at, c.id), after, limit)

    async def add(self, calendar: Calendar) -> None:
        self._guard(calendar.tenant_id)
        if self._name_taken(calendar):
            raise Conflict(f"a calendar named {calendar.name!r} already exists", name=calendar.name)
        self._t.calendars[(calendar.tenant_id, calendar.id)] = reloaded_calendar(calendar)

    async def save(self, calendar: Calendar, *, expected_version: int) -> None:
        self._guard(calendar.tenant_id)
        current = await self.get(calendar.id)
        _require_version("calendar", calendar.id, current.version, expected_version)
        if self._name_taken(calendar):
            raise Conflict(f"a calendar named {calendar.name!r} already exists", name=calendar.name)
        self._t.calendars[(calendar.tenant_id, calendar.id)] = reloaded_calendar(calendar)

    async def users(self, calendar_id: CalendarId) -> int:
        return sum(
            1
            for s in self._t.schedules.values()
            if s.timing.calendar_id == calendar_id and s.state is not ScheduleState.DELETED
        )

    async def delete(self, calendar_id: CalendarId) -> None:
        calendar = await self.get(calendar_id)
        if any(s.timing.calendar_id == calendar_id for s in self._t.schedules.values()):
            raise Conflict(
                "the calendar is referenced by schedules (deleted ones keep their history)",
                calendar_id=str(calendar_id),
            )
        del self._t.calendars[(calendar.tenant_id, calendar_id)]

"""A calendar's document as ``CreateCalendar`` or ``UpdateCalendar``."""

from __future__ import annotations

import uuid
from datetime import date

from domain import bounds
from domain.calendar import CountryHolidays, Holiday, HolidaySource, ICalHolidays
from domain.changes import KEEP, Keep
from domain.errors import InvalidRequest
from domain.ids import CalendarId, TenantId
from service.usecases.commands import (
    CreateCalendar,
    UpdateCalendar,
)
from service.usecases.parsing.fields import (
    Doc,
    given,
    name,
    refuse_unknown,
    required,
)

# -- calendars --------------------------------------------------------------------------------

CALENDAR_FIELDS = frozenset({"name", "business_days", "holidays", "sources"})
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOLIDAY_MAX = 5000
_ICAL_MAX = 1_000_000


def update_calendar(doc: Doc, *, tenant_id: TenantId, calendar_id: CalendarId) -> UpdateCalendar:
    """Calendar changes from a (partial) document: ``name``; ``business_days`` as weekday
    numbers (0 = Monday) or names (``mon``..``sun``); ``holidays`` as
    ``[{"date": "2026-12-24", "name": "..."}]``; ``sources`` as ``"DE-BY"``,
    ``{"country": "DE", "subdivision": "BY"}`` or ``{"ical": "<iCalendar text>"}``."""
    refuse_unknown(doc, CALENDAR_FIELDS)
    calendar_name = name(doc["name"]) if "name" in doc else KEEP
    business_days = _weekdays(doc["business_days"]) if "business_days" in doc else KEEP
    days_off = _holidays(doc["holidays"]) if "holidays" in doc else KEEP
    sources: tuple[HolidaySource, ...] | Keep = KEEP
    if "sources" in doc:
        raw = doc["sources"]
        if not isinstance(raw, list):
            raise InvalidRequest("sources must be a list", field="sources")
        sources = tuple(_source(item, f"sources[{i}]") for i, item in enumerate(raw))
    return UpdateCalendar(
        tenant_id=tenant_id,
        calendar_id=calendar_id,
        name=calendar_name,
        business_days=business_days,
        holidays=days_off,
        sources=sources,
    )


def create_calendar(doc: Doc, *, tenant_id: TenantId) -> CreateCalendar:
    changes = update_calendar(doc, tenant_id=tenant_id, calendar_id=CalendarId(uuid.UUID(int=0)))
    calendar_name = required(changes.name, "name")
    default = CreateCalendar(tenant_id=tenant_id, name=calendar_name)
    return CreateCalendar(
        tenant_id=tenant_id,
        name=calendar_name,
        business_days=given(changes.business_days, default.business_days),
        holidays=given(changes.holidays, default.holidays),
        sources=given(changes.sources, default.sources),
    )


def _weekdays(value: object) -> frozenset[int]:
    if not isinstance(value, list) or not value:
        raise InvalidRequest("business_days must be a non-empty list", field="business_days")
    days = set()
    for item in value:
        if isinstance(item, int) and not isinstance(item, bool) and 0 <= item <= 6:
            days.add(item)
        elif isinstance(item, str) and item.lower()[:3] in DAYS:
            days.add(DAYS.index(item.lower()[:3]))
        else:
            raise InvalidRequest(
                f"{item!r} is not a weekday (0-6, 0 = Monday, or mon..sun)",
                field="business_days",
            )
    return frozenset(days)


def _holidays(value: object) -> tuple[Holiday, ...]:
    if not isinstance(value, list) or len(value) > _HOLIDAY_MAX:
        raise InvalidRequest(f"holidays must be a list of at most {_HOLIDAY_MAX}", field="holidays")
    out = []
    for i, item in enumerate(value):
        where = f"holidays[{i}]"
        entry = refuse_unknown(item, frozenset({"date", "name"}), f"{where}.")
        try:
            day = date.fromisoformat(str(entry.get("date")))
        except ValueError:
            raise InvalidRequest("date must be YYYY-MM-DD", field=f"{where}.date") from None
        title = bounds.text(entry.get("name", "holiday"), f"{where}.name", maximum=bounds.MAX_NAME)
        out.append(Holiday(day=day, name=title))
    return tuple(out)


def _source(item: object, where: str) -> HolidaySource:
    if isinstance(item, str):
        return CountryHolidays.parse(item)
    entry = refuse_unknown(item, frozenset({"country", "subdivision", "ical"}), f"{where}.")
    if "ical" in entry:
        text = entry["ical"]
        if not isinstance(text, str) or not text.strip() or len(text) > _ICAL_MAX:
            raise InvalidRequest("ical must be an iCalendar document", field=f"{where}.ical")
        bounds.text(text, f"{where}.ical", maximum=_ICAL_MAX)
        return ICalHolidays(text=text)
    country = entry.get("country")
    if not isinstance(country, str) or len(country) > 10:
        raise InvalidRequest("country is required, e.g. DE", field=f"{where}.country")
    subdivision = entry.get("subdivision")
    if subdivision is not None and (not isinstance(subdivision, str) or len(subdivision) > 10):
        raise InvalidRequest("subdivision must be a string", field=f"{where}.subdivision")
    return CountryHolidays.parse(f"{country}-{subdivision}" if subdivision else country)

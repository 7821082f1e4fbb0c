"""HolidayProvider backed by the ``holidays`` package and ``icalendar`` documents."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from functools import lru_cache

import holidays as holidays_lib
import icalendar
from dateutil.rrule import rrulestr

from domain.calendar import CountryHolidays, HolidaySource
from domain.errors import InvalidCalendar


class LibraryHolidayProvider:
    """Country/subdivision holidays (names in the country's default language) and iCal."""

    def holidays(self, source: HolidaySource, year: int) -> Mapping[date, str]:
        if isinstance(source, CountryHolidays):
            return _country(source.country, source.subdivision, year)
        return _ical_year(source.text, year)

    def validate(self, source: HolidaySource) -> None:
        """Raise ``InvalidCalendar`` now rather than at the first fire."""
        self.holidays(source, 2026)


@lru_cache(maxsize=512)
def _country(country: str, subdivision: str | None, year: int) -> Mapping[date, str]:
    if country not in holidays_lib.list_supported_countries():
        raise InvalidCalendar("holidays.country", f"{country!r} is not a known country code")
    try:
        # Names in the country's own language ("Tag der Deutschen Einheit"), whatever the
        # process locale: that is what operators of that country read in their calendars.
        language = holidays_lib.country_holidays(country).default_language
        table = holidays_lib.country_holidays(
            country, subdiv=subdivision, years=year, language=language
        )
    except (NotImplementedError, KeyError, ValueError) as exc:
        raise InvalidCalendar(
            "holidays.subdivision", f"{subdivision!r} is not a subdivision of {country}: {exc}"
        ) from None
    return {day: ", ".join(sorted(set(name.split("; ")))) for day, name in table.items()}


@lru_cache(maxsize=64)
def _ical_events(text: str) -> tuple[tuple[date, int, str, str | None], ...]:
    """(start date, length in days, name, RRULE or None) of each all-day VEVENT."""
    try:
        cal = icalendar.Calendar.from_ical(text)
    except ValueError as exc:
        raise InvalidCalendar("ical", f"not an iCalendar document: {exc}") from None
    out: list[tuple[date, int, str, str | None]] = []
    for event in cal.walk("VEVENT"):
        start = event.get("DTSTART")
        if start is None:
            continue
        first = start.dt.date() if isinstance(start.dt, datetime) else start.dt
        end = event.get("DTEND")
        last = (end.dt.date() if isinstance(end.dt, datetime) else end.dt) if end else None
        length = max(1, (last - first).days) if last else 1
        rule = event.get("RRULE")
        rule_text = rule.to_ical().decode() if rule is not None else None
        out.append((first, length, str(event.get("SUMMARY", "holiday")), rule_text))
    if not out:
        raise InvalidCalendar("ical", "no VEVENT with a DTSTART found")
    return tuple(out)


@lru_cache(maxsize=256)
def _ical_year(text: str, year: int) -> Mapping[date, str]:
    names: dict[date, str] = {}
    lo, hi = datetime(year, 1, 1), datetime(year, 12, 31, 23, 59, 59)
    for first, length, name, rule in _ical_events(text):
        starts: list[date]
        if rule is None:
            starts = [first]
        else:
            try:
                recurrence = rrulestr(
                    "RRULE:" + rule, dtstart=datetime.combine(first, datetime.min.time())
                )
            except ValueError as exc:
                raise InvalidCalendar("ical.RRULE", str(exc)) from None
            window_lo = lo - timedelta(days=length)
            starts = [d.date() for d in recurrence.between(window_lo, hi, inc=True)]
        for start in starts:
            for offset in range(length):
                day = start + timedelta(days=offset)
                if day.year == year:
                    names.setdefault(day, name)
    return names

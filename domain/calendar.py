"""Calendars: business weekdays and holidays (docs/semantics.md, *Calendars and windows*).

``Calendar`` is the tenant-scoped, versioned entity. ``BusinessCalendar`` answers
business-day questions for one version of it, loading holiday years on demand through a
``HolidayProvider`` (the ``holidays`` package, an iCalendar file...), so fires can move
forward indefinitely without anyone extending the calendar by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from domain.errors import InvalidCalendar
from domain.ids import CalendarId, TenantId

if TYPE_CHECKING:
    from domain.ports import HolidayProvider

MON_FRI = frozenset(range(5))
# A business day further away than this means the calendar is unusable (every day a
# holiday); it is an error rather than a silent infinite search.
_SHIFT_HORIZON_DAYS = 3 * 366
_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True, slots=True, kw_only=True)
class Holiday:
    day: date
    name: str

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise InvalidCalendar("holidays.name", "required")


@dataclass(frozen=True, slots=True, kw_only=True)
class CountryHolidays:
    """Public holidays from the ``holidays`` package, e.g. ``DE`` / ``BY``."""

    country: str
    subdivision: str | None = None

    @classmethod
    def parse(cls, text: str) -> CountryHolidays:
        """``DE``, ``DE-BY`` or ``DE/BY``."""
        raw = text.strip().replace("/", "-")
        country, _, subdivision = raw.partition("-")
        if not country.isalpha() or len(country) not in (2, 3):
            raise InvalidCalendar("holidays.country", f"{text!r}: expected e.g. DE or DE-BY")
        return cls(country=country.upper(), subdivision=subdivision.upper() or None)

    def __str__(self) -> str:
        return self.country + (f"-{self.subdivision}" if self.subdivision else "")


@dataclass(frozen=True, slots=True, kw_only=True)
class ICalHolidays:
    """All-day events of an iCalendar (RFC 5545) document, recurring ones included."""

    text: str


HolidaySource = CountryHolidays | ICalHolidays


@dataclass(frozen=True, slots=True, kw_only=True)
class Calendar:
    id: CalendarId
    tenant_id: TenantId
    name: str
    version: int = 1
    business_days: frozenset[int] = MON_FRI
    holidays: tuple[Holiday, ...] = ()
    sources: tuple[HolidaySource, ...] = ()
    created_at: datetime
    updated_at: datetime

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise InvalidCalendar("name", "required")
        if not self.business_days:
            raise InvalidCalendar("business_days", "at least one business weekday")
        if not self.business_days <= frozenset(range(7)):
            raise InvalidCalendar("business_days", "weekdays are 0 (Mon) to 6 (Sun)")
        if self.version < 1:
            raise InvalidCalendar("version", "starts at 1")

    def revise(self, *, now: datetime, **changes: Any) -> Calendar:
        """A new version with ``changes`` applied (name, business_days, holidays, sources)."""
        unknown = set(changes) - {"name", "business_days", "holidays", "sources"}
        if unknown:
            raise InvalidCalendar(sorted(unknown)[0], "not a calendar field")
        return replace(self, **changes, version=self.version + 1, updated_at=now)


@dataclass(slots=True)
class BusinessCalendar:
    """Business-day questions for one calendar version."""

    calendar: Calendar
    provider: HolidayProvider | None = None
    _years: dict[int, Mapping[date, str]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.calendar.sources and self.provider is None:
            raise ValueError("a calendar with holiday sources needs a HolidayProvider")

    @property
    def key(self) -> tuple[CalendarId, int]:
        return self.calendar.id, self.calendar.version

    def _holidays(self, year: int) -> Mapping[date, str]:
        found = self._years.get(year)
        if found is not None:
            return found
        names: dict[date, str] = {}
        if self.provider is not None:
            for source in self.calendar.sources:
                for day, name in self.provider.holidays(source, year).items():
                    names.setdefault(day, name)
        for holiday in self.calendar.holidays:
            if holiday.day.year == year:
                names[holiday.day] = holiday.name
        self._years[year] = names
        return names

    def holiday(self, day: date) -> str | None:
        return self._holidays(day.year).get(day)

    def is_business_day(self, day: date) -> bool:
        return day.weekday() in self.calendar.business_days and self.holiday(day) is None

    def why_not(self, day: date) -> str:
        """Human reason a day is not a business day ("holiday X", "Saturday")."""
        name = self.holiday(day)
        if name is not None:  # an unnamed one (``kairos next --holiday DATE``) is "holiday"
            return "holiday" if name.casefold() == "holiday" else f"holiday {name}"
        return f"non-business day ({_WEEKDAY_NAMES[day.weekday()]})"

    def shift(self, day: date, *, forward: bool) -> date:
        """The next (or previous) business day strictly after (before) ``day``."""
        step = timedelta(days=1 if forward else -1)
        current = day
        for _ in range(_SHIFT_HORIZON_DAYS):
            current += step
            if self.is_business_day(current):
                return current
        raise InvalidCalendar(
            "business_days",
            f"no business day within {_SHIFT_HORIZON_DAYS} days of {day.isoformat()}",
        )

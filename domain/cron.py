"""Cron expressions: strict parsing (through croniter) and fast wall-clock enumeration.

croniter validates and expands each field; this module owns everything after that:
which local dates match, which times of day, and in what order. Time zones and DST are
not handled here at all: ``walls_from`` yields *local wall readings* (see
``domain.zones``); ``domain.firing`` turns them into instants.

Semantics (documented in docs/semantics.md):

- 5 fields ``m h dom mon dow`` or 6 with leading seconds ``s m h dom mon dow``;
  macros ``@yearly @annually @monthly @weekly @daily @midnight @hourly``.
- ``?`` is ``*``. Day of week 0-7 (0 and 7 are Sunday) or ``sun..sat``.
- ``L`` in day-of-month is the month's last day; ``NW`` the weekday nearest day N in the
  same month (``1W`` on a Saturday is Monday the 3rd; N past the month end is the last
  day); ``LW`` the month's last weekday (Mon-Fri); ``L-n`` n days before the last day;
  ``d#n`` the n-th weekday d of the month; ``Ld`` (or ``friL``) the last weekday d.
  Quartz's ``6L`` is refused: its day numbers (1=Sun) are not cron's (0=Sun), so the
  message says what to write. Quartz's 7th (year) field is refused the same way.
- When both day-of-month and day-of-week are restricted, a day matches if *either*
  matches (the Vixie/croniter/Kubernetes rule). ``#``, ``L`` and ``W`` belong to their
  own field's side.
- A rule is *periodic* (DST: absolute time) when its hour field covers the day with a
  constant step from 0 (``*``, ``*/n`` and anything equal to them, e.g. ``0-23/6``).

One grammar and its enumeration: the module (about 420 lines) stays whole because the
field rules above and the matching that honours them must be read side by side.
"""

from __future__ import annotations

import bisect
import calendar as _calendar
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from croniter import croniter
from croniter.croniter import CroniterError

from domain.errors import InvalidSchedule

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
FIELDS_5 = ("minute", "hour", "day_of_month", "month", "day_of_week")
FIELDS_6 = ("second", *FIELDS_5)
_DOW_NAMES = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
_QUARTZ_LAST_DOW = re.compile(r"^([0-7]|sun|mon|tue|wed|thu|fri|sat)l$")
_QUARTZ_NUMBERED_LAST = re.compile(r"^([0-7])l$")
_NEAREST_WEEKDAY = re.compile(r"^(?:(\d+)w|w(\d+))$")
_LAST_OFFSET = re.compile(r"^l-(\d{1,2})$")
_DOW_WORDS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DOW_FULL = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_EQUAL_RANGE = re.compile(r"^(\w+)-(\w+)(?:/\d+)?$")
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_DAY = 86400
# How far a parse looks for a first match before declaring the expression impossible:
# 28 years is a full cycle of weekdays against dates (leap years included) in 1901-2099.
_FEASIBILITY_YEARS = 28
_MONTH_CACHE_SIZE = 64
_CRONITER_ERRORS = (CroniterError, ValueError, KeyError, IndexError, TypeError)


def _normalise_dow(token: str) -> str:
    parts = []
    for part in token.split(","):
        numbered = _QUARTZ_NUMBERED_LAST.match(part)
        if numbered:
            # Quartz counts 1=Sun..7=Sat, cron 0=Sun..6=Sat: `6L` is Friday to a Quartz
            # user and Saturday to cron. Guessing would fire on the wrong day silently.
            digit = int(numbered.group(1))
            quartz, cron = (digit - 1) % 7, digit % 7
            raise InvalidSchedule(
                "cron.day_of_week",
                f"{part.upper()!r} is ambiguous: Quartz numbers days 1=Sun..7=Sat, cron "
                f"0=Sun..6=Sat; write the day's name: '{_DOW_WORDS[quartz].upper()}L' (last "
                f"{_DOW_FULL[quartz]}, Quartz's reading) or '{_DOW_WORDS[cron].upper()}L' "
                f"(last {_DOW_FULL[cron]}, cron's)",
                token=part,
            )
        m = _QUARTZ_LAST_DOW.match(part)
        if m:
            day = m.group(1)
            part = "l" + str(_DOW_NAMES.get(day, day))
        parts.append(part)
    return ",".join(parts)


def _collapse_equal_ranges(token: str) -> str:
    """``5-5`` means 5, as in every cron; croniter would expand it to the whole cycle."""
    parts = []
    for part in token.split(","):
        m = _EQUAL_RANGE.match(part)
        parts.append(m.group(1) if m and m.group(1) == m.group(2) else part)
    return ",".join(parts)


def _field_error(field_name: str, token: str, exc: Exception) -> InvalidSchedule:
    reason = str(exc)
    # croniter's messages quote the whole probe expression; keep only the reason.
    reason = re.sub(r"^\[[^\]]*\]\s*(is not acceptable[,.]?\s*)?", "", reason).strip()
    if not reason or reason.lower() in ("is not acceptable", "out of range"):
        reason = "out of range" if "range" in str(exc) else "not acceptable"
    return InvalidSchedule(f"cron.{field_name}", f"{token!r}: {reason}", token=token)


@dataclass(frozen=True, slots=True)
class CronExpression:
    """A parsed cron expression. Build with ``CronExpression.parse``."""

    text: str
    has_seconds: bool
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: frozenset[int]
    dom: frozenset[int] | None  # None: unrestricted
    dom_last: bool
    dom_nearest_weekday: int | None
    dom_last_weekday: bool
    dom_before_last: frozenset[int]
    dow: frozenset[int] | None  # cron numbering 0=Sun; None: unrestricted
    dow_nth: tuple[tuple[int, frozenset[int]], ...]
    dow_last: frozenset[int]
    times_of_day: tuple[int, ...] = field(repr=False)
    _month_cache: dict[tuple[int, int], tuple[int, ...]] = field(
        default_factory=dict, repr=False, compare=False, hash=False
    )

    @property
    def periodic(self) -> bool:
        """True when the smallest fixed unit is the hour or finer (docs/semantics.md,
        *Daylight saving time*)."""
        hours = self.hours
        if hours[0] != 0:
            return False
        if len(hours) == 1:
            return False
        step = hours[1] - hours[0]
        return all(b - a == step for a, b in itertools.pairwise(hours)) and (hours[-1] + step >= 24)

    @classmethod
    def parse(cls, text: str) -> CronExpression:
        """Parse strictly; raise ``InvalidSchedule`` naming the bad field.

        Parsed expressions are immutable, so they are shared through a bounded cache: the
        same text ("0 * * * *") recurs across schedules and across reloads of one.
        """
        if not isinstance(text, str):
            raise InvalidSchedule("cron", "expression must be text")
        return _parse_cached(" ".join(text.split()))

    @staticmethod
    def clear_parse_cache() -> None:
        """Forget cached parses (benchmarks measuring first-sight parsing use this)."""
        _parse_cached.cache_clear()

    @classmethod
    def _parse(cls, text: str) -> CronExpression:
        if not text.strip():
            raise InvalidSchedule("cron", "empty expression")
        raw = " ".join(text.split())
        expr = raw.lower()
        if expr.startswith("@"):
            if expr not in MACROS:
                raise InvalidSchedule(
                    "cron", f"unknown macro {raw!r}; use one of {', '.join(sorted(MACROS))}"
                )
            expr = MACROS[expr]
        tokens = expr.split(" ")
        if len(tokens) == 7:
            raise InvalidSchedule(
                "cron",
                f"{raw!r} has 7 fields: Quartz's year field is not supported; drop it "
                "(6 fields: s m h dom mon dow) and bound the schedule with start_at/end_at",
            )
        if len(tokens) not in (5, 6):
            raise InvalidSchedule(
                "cron",
                f"{raw!r} has {len(tokens)} fields; expected 5 (m h dom mon dow) "
                "or 6 (s m h dom mon dow)",
            )
        has_seconds = len(tokens) == 6
        names = FIELDS_6 if has_seconds else FIELDS_5
        tokens = ["*" if t == "?" else _collapse_equal_ranges(t) for t in tokens]
        tokens[-1] = _normalise_dow(tokens[-1])
        tokens[-3], last_weekday, before_last = _own_dom_parts(tokens[-3])
        try:
            expanded, nth = croniter.expand(" ".join(tokens), second_at_beginning=has_seconds)
        except _CRONITER_ERRORS as exc:
            # Only bad input pays for this: probe one field at a time to name the culprit.
            for i, (name, token) in enumerate(zip(names, tokens, strict=True)):
                probe = ["*"] * len(tokens)
                probe[i] = token
                try:
                    croniter.expand(" ".join(probe), second_at_beginning=has_seconds)
                except _CRONITER_ERRORS as field_exc:
                    raise _field_error(name, token, field_exc) from None
            raise InvalidSchedule("cron", f"{raw!r}: {exc}") from None
        minutes, hours, dom_f, month_f, dow_f = expanded[:5]
        seconds = expanded[5] if has_seconds else [0]
        dom_token = tokens[-3]
        nearest: int | None = None
        m = _NEAREST_WEEKDAY.match(dom_token)
        if m:
            nearest = int(m.group(1) or m.group(2))
        dom_last = "l" in dom_f
        dom: frozenset[int] | None = None
        if dom_f != ["*"] and nearest is None:
            dom = frozenset(int(d) for d in dom_f if d != "l")
        elif (last_weekday or before_last) and nearest is None:
            dom = frozenset()  # only Kairos' own parts: the field is restricted
        months = frozenset(range(1, 13)) if month_f == ["*"] else frozenset(map(int, month_f))
        dow: frozenset[int] | None = None
        dow_nth: list[tuple[int, frozenset[int]]] = []
        dow_last: set[int] = set()
        if dow_f != ["*"]:
            plain: set[int] = set()
            for d in dow_f:
                day = int(d) % 7
                marks = nth.get(int(d)) or nth.get(day)
                if not marks:
                    plain.add(day)
                    continue
                numbers = frozenset(int(x) for x in marks if x != "l")
                if numbers:
                    dow_nth.append((day, numbers))
                if "l" in marks:
                    dow_last.add(day)
            dow = frozenset(plain)
        secs = _values(seconds, 60)
        mins = _values(minutes, 60)
        hrs = _values(hours, 24)
        tod = tuple(sorted(h * 3600 + mi * 60 + s for h in hrs for mi in mins for s in secs))
        parsed = cls(
            text=raw,
            has_seconds=has_seconds,
            seconds=secs,
            minutes=mins,
            hours=hrs,
            months=months,
            dom=dom,
            dom_last=dom_last,
            dom_nearest_weekday=nearest,
            dom_last_weekday=last_weekday,
            dom_before_last=before_last,
            dow=dow,
            dow_nth=tuple(sorted(dow_nth)),
            dow_last=frozenset(dow_last),
            times_of_day=tod,
        )
        parsed._check_feasible()
        return parsed

    # -- dates ---------------------------------------------------------------------------

    @property
    def _dom_restricted(self) -> bool:
        return (
            self.dom is not None
            or self.dom_last
            or self.dom_nearest_weekday is not None
            or self.dom_last_weekday
            or bool(self.dom_before_last)
        )

    @property
    def _dow_restricted(self) -> bool:
        return self.dow is not None

    def days_in_month(self, year: int, month: int) -> tuple[int, ...]:
        """Days of ``year-month`` whose date matches (sorted)."""
        key = (year, month)
        cached = self._month_cache.get(key)
        if cached is not None:
            return cached
        if month not in self.months:
            result: tuple[int, ...] = ()
        else:
            first_weekday, ndays = _calendar.monthrange(year, month)  # Mon=0
            dom_days: set[int] = set()
            if self.dom is not None:
                dom_days.update(d for d in self.dom if d <= ndays)
            if self.dom_last:
                dom_days.add(ndays)
            if self.dom_nearest_weekday is not None:
                dom_days.add(_nearest_weekday(year, month, self.dom_nearest_weekday, ndays))
            if self.dom_last_weekday:
                last = _calendar.weekday(year, month, ndays)  # Mon=0
                dom_days.add(ndays - max(0, last - 4))
            dom_days.update(ndays - n for n in self.dom_before_last if n < ndays)
            dow_days: set[int] = set()
            if self.dow is not None:
                for day in range(1, ndays + 1):
                    cron_dow = (first_weekday + day) % 7  # day 1 -> Mon=0 -> cron 1
                    if cron_dow in self.dow:
                        dow_days.add(day)
                for wd, numbers in self.dow_nth:
                    first = 1 + (wd - (first_weekday + 1)) % 7
                    for n in numbers:
                        day = first + 7 * (n - 1)
                        if day <= ndays:
                            dow_days.add(day)
                for wd in self.dow_last:
                    last_weekday = (first_weekday + ndays) % 7  # cron numbering of day ndays
                    dow_days.add(ndays - (last_weekday - wd) % 7)
            if self._dom_restricted and self._dow_restricted:
                days = dom_days | dow_days
            elif self._dom_restricted:
                days = dom_days
            elif self._dow_restricted:
                days = dow_days
            else:
                days = set(range(1, ndays + 1))
            result = tuple(sorted(days))
        if len(self._month_cache) >= _MONTH_CACHE_SIZE:
            self._month_cache.clear()
        self._month_cache[key] = result
        return result

    def _check_feasible(self) -> None:
        for year in range(2000, 2000 + _FEASIBILITY_YEARS):
            for month in sorted(self.months):
                if self.days_in_month(year, month):
                    return
        raise InvalidSchedule(
            "cron.day_of_month", f"{self.text!r} never matches a calendar date", token=self.text
        )

    # -- wall readings -------------------------------------------------------------------

    def walls_from(self, start: int, *, until: int | None = None) -> Iterator[int]:
        """Matching local wall readings ``>= start`` (seconds, see ``domain.zones``)."""
        tod = self.times_of_day
        day_index, sod = divmod(start, _DAY)
        d = date.fromordinal(_EPOCH_ORDINAL + day_index)
        year, month, first_day = d.year, d.month, d.day
        first = True
        stop_year = 9000 if until is None else date.fromordinal(_EPOCH_ORDINAL + until // _DAY).year
        while year <= stop_year:
            days = self.days_in_month(year, month)
            if days:
                month_base = (date(year, month, 1).toordinal() - _EPOCH_ORDINAL) * _DAY
                for day in days:
                    if first and day < first_day:
                        continue
                    base = month_base + (day - 1) * _DAY
                    i = 0
                    if first and day == first_day:
                        i = bisect.bisect_left(tod, sod)
                    first = False
                    # By index, not ``tod[i:]``: an every-second rule has 86,400 times of
                    # day, and copying the rest of them for each search cost ~100 us.
                    for j in range(i, len(tod)):
                        w = base + tod[j]
                        if until is not None and w > until:
                            return
                        yield w
            first = False
            month += 1
            if month == 13:
                month = 1
                year += 1


@lru_cache(maxsize=4096)
def _parse_cached(text: str) -> CronExpression:
    return CronExpression._parse(text)


def _own_dom_parts(token: str) -> tuple[str, bool, frozenset[int]]:
    """Take ``LW`` and ``L-n`` out of a day-of-month token (croniter knows neither):
    (the rest for croniter, ``*`` if nothing is left; last weekday?; n values)."""
    if "l" not in token:
        return token, False, frozenset()
    rest: list[str] = []
    last_weekday = False
    before: set[int] = set()
    for part in token.split(","):
        m = _LAST_OFFSET.match(part)
        if part == "lw":
            last_weekday = True
        elif m:
            n = int(m.group(1))
            if not 1 <= n <= 30:
                raise InvalidSchedule(
                    "cron.day_of_month", f"{part.upper()!r}: n must be 1 to 30", token=part
                )
            before.add(n)
        elif part in ("wl", "l-w") or (part.startswith("l-") and part.endswith("w")):
            raise InvalidSchedule(
                "cron.day_of_month",
                f"{part.upper()!r}: write 'LW' for the last weekday of the month",
                token=part,
            )
        else:
            rest.append(part)
    if not rest:
        return "*", last_weekday, frozenset(before)
    return ",".join(rest), last_weekday, frozenset(before)


def _values(expanded: list[int | str], size: int) -> tuple[int, ...]:
    if expanded == ["*"]:
        return tuple(range(size))
    return tuple(sorted({int(x) for x in expanded}))


def _nearest_weekday(year: int, month: int, day: int, ndays: int) -> int:
    """Quartz ``W``: the weekday nearest ``day`` without leaving the month."""
    day = min(day, ndays)
    weekday = _calendar.weekday(year, month, day)  # Mon=0
    if weekday == 5:  # Saturday -> Friday, unless that leaves the month
        return day - 1 if day > 1 else day + 2
    if weekday == 6:  # Sunday -> Monday, unless that leaves the month
        return day + 1 if day < ndays else day - 2
    return day

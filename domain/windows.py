"""Execution windows: when, in local time, a fire may be dispatched (docs/semantics.md,
*Calendars and windows*).

A window is ``weekdays start-end`` in the schedule's zone, e.g. ``mon-fri 08:00-18:00``.
The end is exclusive. An end at or before the start makes an overnight window that
starts on the listed weekday and ends the next morning (``fri 22:00-06:00``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from domain.errors import InvalidSchedule

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ALL_DAYS = frozenset(range(7))
_WINDOW = re.compile(
    r"^\s*(?P<days>\S+)\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*$"
)
# How far ahead deferral looks for a window start before giving up (and skipping).
DEFER_HORIZON_DAYS = 370


def parse_weekdays(text: str, *, field: str = "weekdays") -> frozenset[int]:
    """``mon-fri``, ``sat,sun``, ``mon-wed,fri``, ``daily`` or ``*`` -> weekdays (Mon=0)."""
    raw = text.strip().lower()
    if raw in ("*", "daily", "all"):
        return _ALL_DAYS
    out: set[int] = set()
    for part in raw.split(","):
        lo, sep, hi = part.partition("-")
        if lo not in DAY_NAMES or (sep and hi not in DAY_NAMES):
            raise InvalidSchedule(field, f"{text!r}: use day names like mon-fri or sat,sun")
        a = DAY_NAMES.index(lo)
        b = DAY_NAMES.index(hi) if sep else a
        day = a
        while True:
            out.add(day)
            if day == b:
                break
            day = (day + 1) % 7
    return frozenset(out)


def _parse_clock(text: str, field: str) -> time:
    hours, minutes = (int(x) for x in text.split(":"))
    if hours == 24 and minutes == 0:
        return time(0, 0)
    if not (0 <= hours < 24 and 0 <= minutes < 60):
        raise InvalidSchedule(field, f"{text!r} is not a time of day")
    return time(hours, minutes)


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionWindow:
    weekdays: frozenset[int]
    start: time
    end: time

    def __post_init__(self) -> None:
        if not self.weekdays or not self.weekdays <= _ALL_DAYS:
            raise InvalidSchedule("window.weekdays", "at least one weekday (Mon=0..Sun=6)")
        if self.start == self.end and self.start != time(0, 0):
            raise InvalidSchedule("window", "start and end are equal")

    @classmethod
    def parse(cls, text: str) -> ExecutionWindow:
        m = _WINDOW.match(text)
        if m is None:
            raise InvalidSchedule("window", f"{text!r}: expected e.g. 'mon-fri 08:00-18:00'")
        return cls(
            weekdays=parse_weekdays(m["days"], field="window.weekdays"),
            start=_parse_clock(m["start"], "window.start"),
            end=_parse_clock(m["end"], "window.end"),
        )

    @property
    def overnight(self) -> bool:
        return self.end <= self.start

    def contains(self, local: datetime) -> bool:
        """Whether the naive local reading ``local`` is inside this window."""
        clock = local.time()
        weekday = local.weekday()
        if not self.overnight:
            return weekday in self.weekdays and self.start <= clock < self.end
        return (weekday in self.weekdays and clock >= self.start) or (
            (weekday - 1) % 7 in self.weekdays and clock < self.end
        )

    def __str__(self) -> str:
        days = ",".join(DAY_NAMES[d] for d in sorted(self.weekdays))
        return f"{days} {self.start:%H:%M}-{self.end:%H:%M}"


def next_window_start(
    windows: Iterable[ExecutionWindow],
    local: datetime,
    *,
    allowed: Callable[[date], bool] = lambda _: True,
) -> datetime | None:
    """Earliest window start strictly after naive ``local`` on an allowed date, or None."""
    windows = tuple(windows)
    day = local.date()
    for offset in range(DEFER_HORIZON_DAYS):
        current = day + timedelta(days=offset)
        if not allowed(current):
            continue
        starts = sorted(
            datetime.combine(current, w.start) for w in windows if current.weekday() in w.weekdays
        )
        for start in starts:
            if start > local:
                return start
    return None

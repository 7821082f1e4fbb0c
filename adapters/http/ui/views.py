"""What the dashboard shows, worked out from domain objects: a trigger in words, a
state with its note, durations and lateness, the picture of upcoming fires. Pure
functions (no I/O, ``now`` is an argument) so the pages stay thin templates."""

from __future__ import annotations

import calendar as calendars
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from domain.calendar import BusinessCalendar
from domain.cron import CronExpression
from domain.durations import format_duration
from domain.planning import PlannedFire
from domain.run import Run, RunStatus
from domain.schedule import Schedule, ScheduleState
from domain.triggers import (
    CronTrigger,
    DelayMode,
    EventTrigger,
    FixedDelayTrigger,
    OneShotTrigger,
    RRuleTrigger,
    Trigger,
)

DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")  # cron numbering: 0 is Sunday
RRULE_DAYS = {"MO": "Mon", "TU": "Tue", "WE": "Wed", "TH": "Thu", "FR": "Fri", "SA": "Sat"}
RRULE_DAYS["SU"] = "Sun"
FREQ_WORDS = {
    "SECONDLY": ("every second", "seconds"),
    "MINUTELY": ("every minute", "minutes"),
    "HOURLY": ("every hour", "hours"),
    "DAILY": ("every day", "days"),
    "WEEKLY": ("every week", "weeks"),
    "MONTHLY": ("every month", "months"),
    "YEARLY": ("every year", "years"),
}
SKIP_WORDS = {
    "dst_gap": "the local time does not exist (DST gap)",
    "calendar": "not a business day",
    "calendar_collision": "moved onto a day that already fires",
    "window": "outside the execution window",
    "overlap": "the previous run was still going",
}
STATUS_WORDS = {
    RunStatus.WAITING: "waiting for upstream",
    RunStatus.SCHEDULED: "scheduled",
    RunStatus.PENDING: "pending",
    RunStatus.RUNNING: "running",
    RunStatus.SUCCEEDED: "succeeded",
    RunStatus.FAILED: "failed, will retry",
    RunStatus.DEAD: "dead",
    RunStatus.CANCELLED: "cancelled",
    RunStatus.MISSED: "missed",
    RunStatus.SKIPPED: "skipped",
}


def trigger_written(trigger: Trigger) -> str:
    """The trigger as its author wrote it."""
    if isinstance(trigger, CronTrigger):
        return trigger.expression.text
    if isinstance(trigger, RRuleTrigger):
        return trigger.recurrence.text
    if isinstance(trigger, FixedDelayTrigger):
        return f"{format_duration(trigger.every)} ({trigger.mode.value})"
    if isinstance(trigger, OneShotTrigger):
        value = trigger.at if trigger.at is not None else trigger.local
        return value.isoformat() if value is not None else ""
    return trigger.subject


def trigger_words(trigger: Trigger) -> str:
    """The trigger as a sentence a person reads at a glance."""
    if isinstance(trigger, CronTrigger):
        return cron_words(trigger.expression)
    if isinstance(trigger, RRuleTrigger):
        return rrule_words(trigger.recurrence.rule)
    if isinstance(trigger, FixedDelayTrigger):
        if trigger.mode is DelayMode.RATE:
            return f"every {_duration_words(trigger.every)}"
        return f"{_duration_words(trigger.every)} after each run ends"
    if isinstance(trigger, OneShotTrigger):
        at = trigger.at if trigger.at is not None else trigger.local
        return f"once, at {at:%Y-%m-%d %H:%M}" if at is not None else "once"
    assert isinstance(trigger, EventTrigger)
    debounce = f", debounced {_duration_words(trigger.debounce)}" if trigger.debounce else ""
    return f"on each event {trigger.subject}{debounce}"


def cron_words(cron: CronExpression) -> str:
    seconds, minutes, hours = cron.seconds, cron.minutes, cron.hours
    every_minute = len(minutes) == 60
    every_hour = len(hours) == 24
    if cron.has_seconds and len(seconds) == 60 and every_minute and every_hour:
        when = "every second"
    elif cron.has_seconds and len(seconds) > 1 and every_minute and every_hour:
        when = _every(seconds, 60, "second") or f"at seconds {_list(seconds)}"
    elif every_minute and every_hour:
        when = "every minute"
    elif len(minutes) > 1 and every_hour:
        when = _every(minutes, 60, "minute") or f"at minutes {_list(minutes)} of every hour"
    elif len(minutes) == 1 and every_hour:
        when = f"every hour at :{minutes[0]:02d}"
    elif len(minutes) == 1 and len(hours) <= 4:
        when = "at " + ", ".join(f"{h:02d}:{minutes[0]:02d}" for h in hours)
        if cron.dow is None and cron.dom is None and not cron.dom_last and not cron.dow_nth:
            when = "every day " + when
    elif len(minutes) == 1:
        when = _every(hours, 24, "hour") or f"hours {_list(hours)}"
        when += f" at :{minutes[0]:02d}"
    else:
        when = f"at minutes {_list(minutes)} of hours {_list(hours)}"
    days = ""
    if cron.dow is not None and cron.dom is None:
        if cron.dow == frozenset({1, 2, 3, 4, 5}):
            days = " on weekdays (Mon–Fri)"
        elif cron.dow == frozenset({0, 6}):
            days = " on weekends"
        else:
            days = " on " + ", ".join(DAYS[d % 7] for d in sorted(cron.dow))
    elif cron.dom_last:
        days = " on the last day of the month"
    elif cron.dom:
        days = " on day " + _list(tuple(sorted(cron.dom))) + " of the month"
    elif cron.dow_nth or cron.dom_nearest_weekday is not None or cron.dom_last_weekday:
        days = " on particular days of the month"
    if len(cron.months) < 12:
        days += " in " + ", ".join(calendars.month_abbr[m] for m in sorted(cron.months))
    return when + days


def rrule_words(rule: str) -> str:
    parts = dict(p.split("=", 1) for p in rule.split(";") if "=" in p)
    freq = parts.get("FREQ", "")
    single, plural = FREQ_WORDS.get(freq, (freq.lower(), freq.lower()))
    interval = int(parts.get("INTERVAL", "1")) if parts.get("INTERVAL", "1").isdigit() else 1
    text = single if interval == 1 else f"every {interval} {plural}"
    if "BYDAY" in parts:
        days = [
            RRULE_DAYS.get(d[-2:], d) + (f" #{d[:-2]}" if d[:-2] else "")
            for d in parts["BYDAY"].split(",")
        ]
        text += " on " + ", ".join(days)
    if "BYMONTHDAY" in parts:
        text += f" on day {parts['BYMONTHDAY']}"
    if "BYHOUR" in parts:
        minute = parts.get("BYMINUTE", "0").split(",")[0]
        hours = parts["BYHOUR"].split(",")
        text += " at " + ", ".join(f"{int(h):02d}:{int(minute):02d}" for h in hours if h.isdigit())
    if "COUNT" in parts:
        text += f", {parts['COUNT']} times"
    return text


def _every(values: Sequence[int], span: int, unit: str) -> str | None:
    """``every N units`` when ``values`` is 0, N, 2N... over the span."""
    if len(values) < 2 or values[0] != 0:
        return None
    step = values[1] - values[0]
    if list(values) == list(range(0, span, step)):
        return f"every {step} {unit}s"
    return None


def _list(values: Sequence[int]) -> str:
    shown = ", ".join(str(v) for v in values[:8])
    return shown + ("…" if len(values) > 8 else "")


def _duration_words(value: timedelta) -> str:
    total = int(value.total_seconds())
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        if total and total % size == 0:
            n = total // size
            return f"{n} {unit}" + ("s" if n != 1 else "")
    return f"{value.total_seconds():g} seconds"


def seconds_words(value: float | None) -> str:
    """A span of seconds, short: ``350 ms``, ``4.2 s``, ``3 min``, ``2 h 5 min``."""
    if value is None:
        return "–"
    if abs(value) < 1:
        return f"{value * 1000:.0f} ms"
    if abs(value) < 60:
        return f"{value:.1f} s"
    if abs(value) < 3600:
        return f"{value / 60:.0f} min"
    if abs(value) < 48 * 3600:
        hours, rest = divmod(int(value), 3600)
        return f"{hours} h {rest // 60} min"
    days, rest = divmod(int(value), 86400)
    return f"{days} d {rest // 3600} h"


def ago(at: datetime | None, now: datetime) -> str:
    """``in 5 min`` / ``3 h ago``."""
    if at is None:
        return ""
    delta = (at - now).total_seconds()
    words = seconds_words(abs(delta)) if abs(delta) >= 1 else "now"
    if words == "now":
        return "now"
    return f"in {words}" if delta > 0 else f"{words} ago"


def state_words(schedule: Schedule) -> tuple[str, str | None]:
    """The state's label and its note (a pause's note, a disable's reason)."""
    labels = {
        ScheduleState.ENABLED: "active",
        ScheduleState.PAUSED: "paused",
        ScheduleState.COMPLETED: "completed",
        ScheduleState.DELETED: "deleted",
    }
    return labels[schedule.state], schedule.state_reason


# -- runs -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunView:
    run: Run
    status: str
    status_words: str
    lateness: float | None  # seconds from nominal time to the first attempt's start
    duration: float | None  # seconds of the last attempt that ended

    @property
    def can_retry(self) -> bool:
        return self.run.status is RunStatus.DEAD

    @property
    def can_cancel(self) -> bool:
        return self.run.status in (RunStatus.SCHEDULED, RunStatus.PENDING, RunStatus.RUNNING) and (
            self.run.cancel_requested is None
        )


def run_view(run: Run) -> RunView:
    lateness = None
    if run.attempts:
        lateness = (run.attempts[0].started_at - run.nominal_at).total_seconds()
    duration = None
    ended = [a.duration for a in run.attempts if a.duration is not None]
    if ended:
        duration = ended[-1].total_seconds()
    return RunView(run, run.status.value, STATUS_WORDS[run.status], lateness, duration)


def run_fingerprint(run: Run) -> tuple[str, int, str]:
    """What the live feed compares between polls: a change is a new event."""
    return (run.status.value, run.attempt, run.updated_at.isoformat())


# -- fires ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FireView:
    nominal_at: datetime
    dispatch_at: datetime
    local: datetime
    skipped: str | None  # the reason, in words
    skipped_code: str | None
    notes: tuple[str, ...]


def fire_view(fire: PlannedFire) -> FireView:
    code = fire.skipped.value if fire.skipped is not None else None
    return FireView(
        nominal_at=fire.nominal_at,
        dispatch_at=fire.dispatch_at,
        local=fire.local_at,
        skipped=SKIP_WORDS.get(code, code) if code else None,
        skipped_code=code,
        notes=fire.notes,
    )


@dataclass
class Heatmap:
    """Fires per cell over a span: ``rows`` of ``columns`` cells, each a count."""

    start: datetime
    cell: timedelta
    rows: list[tuple[str, list[int]]]
    columns: list[str]
    total: int = 0
    busiest: int = 0
    schedules: int = 0
    crowded: list[tuple[datetime, int]] = field(default_factory=list)

    def level(self, count: int) -> int:
        """0..4, for the cell's shade."""
        if count == 0 or self.busiest == 0:
            return 0
        return 1 + min(3, (count * 4 - 1) // self.busiest)


def heatmap(fires: Iterable[datetime], *, start: datetime, span: str, schedules: int) -> Heatmap:
    """24 h: one row per hour, 12 cells of 5 minutes; 7 days: one row per day, 24 hourly
    cells. ``start`` is rounded down to the row's boundary (UTC)."""
    if span == "7d":
        origin = start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        cell, per_row, row_count = timedelta(hours=1), 24, 7
        columns = [f"{h:02d}" for h in range(24)]
        label = "%a %d %b"
        row_span = timedelta(days=1)
    else:
        origin = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        cell, per_row, row_count = timedelta(minutes=5), 12, 24
        columns = [f":{m:02d}" for m in range(0, 60, 5)]
        label = "%a %H:00"
        row_span = timedelta(hours=1)
    counts = [0] * (per_row * row_count)
    minute: dict[datetime, int] = {}
    for at in fires:
        index = int((at - origin) / cell)
        if 0 <= index < len(counts):
            counts[index] += 1
            key = at.replace(second=0, microsecond=0)
            minute[key] = minute.get(key, 0) + 1
    rows = [
        ((origin + row_span * r).strftime(label), counts[r * per_row : (r + 1) * per_row])
        for r in range(row_count)
    ]
    crowded = sorted(minute.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    return Heatmap(
        start=origin,
        cell=cell,
        rows=rows,
        columns=columns,
        total=sum(counts),
        busiest=max(counts, default=0),
        schedules=schedules,
        crowded=[c for c in crowded if c[1] > 1],
    )


# -- calendars --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DayView:
    day: date
    in_month: bool
    business: bool
    holiday: str | None
    why_not: str | None
    fires: int
    moved_in: int  # fires a calendar moved onto this day


def month_view(
    business: BusinessCalendar,
    year: int,
    month: int,
    fires: Mapping[date, int],
    moved: Mapping[date, int],
) -> list[list[DayView]]:
    """The month's weeks (Monday first), each day with its business-day verdict."""
    weeks = calendars.Calendar(firstweekday=0).monthdatescalendar(year, month)
    out = []
    for week in weeks:
        row = []
        for day in week:
            ok = business.is_business_day(day)
            row.append(
                DayView(
                    day=day,
                    in_month=day.month == month,
                    business=ok,
                    holiday=business.holiday(day),
                    why_not=None if ok else business.why_not(day),
                    fires=fires.get(day, 0),
                    moved_in=moved.get(day, 0),
                )
            )
        out.append(row)
    return out

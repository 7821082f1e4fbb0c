"""Planning: a schedule's fires with calendars, windows, jitter and ``max_fires`` applied.

The output is the stream the materialiser stores and ``kairos next`` prints: one
``PlannedFire`` per fire in nominal order, either dispatched (``skipped is None``) or a
skipped record with its reason. The nominal instant is the fire's identity; the dispatch
instant is when it becomes claimable.

Order of the stages, per fire (documented in docs/semantics.md):

1. the rule and DST (``Timing.fires``), which may already yield ``dst_gap`` skips;
2. the calendar (``calendar_policy``): ``skip``, or move the local date to the
   next/previous business day keeping the wall time. A moved day's fires move together;
   they are skipped (``calendar_collision``) if the target date already has a fire that
   came from another date (its own fires win over moved ones; among moved groups the
   earliest nominal date wins);
3. execution windows (``window_policy``): defer to the first instant, after the fire,
   at which a window is really open (on a business day when a calendar is in use) or
   skip. A window start inside a DST gap opens when the clocks jump (02:30 on
   spring-forward day in Berlin opens at 03:00 CEST, not at the shifted 03:30); one in a
   fold opens at the first occurrence that is not before the fire;
4. jitter, deterministic from (schedule id, nominal instant);
5. ``max_fires`` counts dispatched fires only; once reached, planning stops.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from domain.calendar import BusinessCalendar
from domain.errors import InvalidSchedule
from domain.firing import SkipReason
from domain.ids import CalendarId
from domain.jitter import jitter_offset
from domain.timing import CalendarPolicy, FireRow, Timing, WindowPolicy
from domain.windows import next_window_start
from domain.zones import WallKind, Zone, instant_to_datetime, naive_to_wall

if TYPE_CHECKING:
    from collections.abc import Callable

# Dates older than this behind the newest fire are dropped from collision bookkeeping.
_TAKEN_HORIZON = timedelta(days=400)


@dataclass(frozen=True, slots=True)
class PlannedFire:
    nominal_at: datetime
    dispatch_at: datetime
    skipped: SkipReason | None = None
    notes: tuple[str, ...] = ()
    calendar: tuple[CalendarId, int] | None = None
    zone: Zone | None = field(default=None, compare=False, repr=False)

    @property
    def local_at(self) -> datetime:
        """The nominal instant as a local reading (aware, in the schedule's zone)."""
        assert self.zone is not None
        return self.nominal_at.astimezone(self.zone.tzinfo)

    @property
    def dispatch_local_at(self) -> datetime:
        assert self.zone is not None
        return self.dispatch_at.astimezone(self.zone.tzinfo)


@dataclass(slots=True)
class _Entry:
    nominal_at: datetime
    dispatch: datetime | None  # None while a move is undecided, or for skipped entries
    skipped: SkipReason | None
    notes: list[str]
    origin: date | None = None
    target: date | None = None
    wall: datetime | None = None  # naive local wall reading of the nominal instant


def plan(
    timing: Timing,
    after: datetime,
    *,
    inclusive: bool = False,
    calendar: BusinessCalendar | None = None,
    schedule_id: str | None = None,
    fired: int = 0,
) -> Iterator[PlannedFire]:
    """Planned fires with nominal time after ``after`` (see the module doc for stages).

    ``fired`` is how many fires the schedule already dispatched (for ``max_fires``).
    """
    if timing.max_jitter and not schedule_id:
        raise InvalidSchedule("schedule_id", "jitter is derived from the schedule id; give one")
    remaining = None if timing.max_fires is None else timing.max_fires - fired
    if remaining is not None and remaining <= 0:
        return
    zone = timing.zone
    rows = timing.fire_rows(after, inclusive=inclusive)
    if calendar is None and not timing.windows and not timing.max_jitter:
        for nominal_at, skipped, note in rows:
            yield PlannedFire(
                nominal_at=nominal_at,
                dispatch_at=nominal_at,
                skipped=skipped,
                notes=(note,) if note else (),
                zone=zone,
            )
            if skipped is None and remaining is not None:
                remaining -= 1
                if remaining == 0:
                    return
        return
    calendar_key = calendar.key if calendar is not None else None
    for entry in _windowed(_calendared(rows, timing, calendar), timing, calendar):
        dispatch = entry.dispatch
        if entry.skipped is None:
            assert dispatch is not None
            if timing.max_jitter and schedule_id:
                offset = jitter_offset(schedule_id, entry.nominal_at, timing.max_jitter)
                dispatch += offset
                if offset:
                    entry.notes.append(f"jitter +{_short(offset)}")
        yield PlannedFire(
            nominal_at=entry.nominal_at,
            dispatch_at=dispatch if dispatch is not None else entry.nominal_at,
            skipped=entry.skipped,
            notes=tuple(entry.notes),
            calendar=calendar_key,
            zone=zone,
        )
        if entry.skipped is None and remaining is not None:
            remaining -= 1
            if remaining == 0:
                return


def _calendared(
    rows: Iterator[FireRow], timing: Timing, calendar: BusinessCalendar | None
) -> Iterator[_Entry]:
    tz = timing.zone.tzinfo
    policy = timing.calendar_policy
    forward = policy is CalendarPolicy.NEXT_BUSINESS_DAY
    pending: deque[_Entry] = deque()
    taken: dict[date, date] = {}  # effective local date -> origin date of its fires
    newest: date | None = None

    def settle(entry: _Entry) -> None:
        assert entry.origin is not None
        assert entry.target is not None
        assert entry.wall is not None
        owner = taken.get(entry.target)
        if owner is not None and owner != entry.origin:
            entry.skipped = SkipReason.CALENDAR_COLLISION
            entry.notes.append(f"collision: {entry.target.isoformat()} already has a fire")
            return
        taken[entry.target] = entry.origin
        moved = datetime.combine(entry.target, entry.wall.time())
        entry.dispatch = _resolve_local(timing.zone, moved)
        entry.target = None

    def ready(entry: _Entry, *, final: bool) -> bool:
        if entry.target is None:
            return True
        if not forward or final or taken.get(entry.target) == entry.target:
            return True
        return newest is not None and newest > entry.target

    for nominal_at, skipped, note in rows:
        local = nominal_at.astimezone(tz)
        day = local.date()
        newest = day if newest is None else max(newest, day)
        entry = _Entry(nominal_at, None, skipped, [note] if note else [])
        if skipped is None:
            if calendar is None or calendar.is_business_day(day):
                entry.dispatch = nominal_at
                taken[day] = day  # a date's own fires always win over moved ones
            elif policy is CalendarPolicy.SKIP:
                entry.skipped = SkipReason.CALENDAR
                entry.notes.append(f"skipped: {calendar.why_not(day)}")
            else:
                target = calendar.shift(day, forward=forward)
                entry.origin, entry.target = day, target
                entry.wall = local.replace(tzinfo=None)
                entry.notes.append(f"moved: {calendar.why_not(day)} -> {target.isoformat()}")
        pending.append(entry)
        while pending and ready(pending[0], final=False):
            head = pending.popleft()
            if head.target is not None:
                settle(head)
            yield head
        if len(taken) > 512:
            horizon = day - _TAKEN_HORIZON
            for old in [d for d in taken if d < horizon]:
                del taken[old]
    while pending:
        head = pending.popleft()
        if head.target is not None:
            settle(head)
        yield head


def _windowed(
    entries: Iterator[_Entry], timing: Timing, calendar: BusinessCalendar | None
) -> Iterator[_Entry]:
    windows = timing.windows
    if not windows:
        yield from entries
        return
    tz = timing.zone.tzinfo
    allowed: Callable[[date], bool] = (
        calendar.is_business_day if calendar is not None else (lambda _: True)
    )
    for entry in entries:
        if entry.skipped is None:
            assert entry.dispatch is not None
            local = entry.dispatch.astimezone(tz).replace(tzinfo=None)
            if not any(w.contains(local) for w in windows):
                opened = (
                    _window_opens(timing, local, entry.dispatch, allowed)
                    if timing.window_policy is WindowPolicy.DEFER
                    else None
                )
                if opened is None:
                    entry.skipped = SkipReason.WINDOW
                    entry.notes.append("skipped: outside every execution window")
                else:
                    entry.dispatch, start = opened
                    entry.notes.append(f"deferred: window opens {start:%a %H:%M}")
        yield entry


def _window_opens(
    timing: Timing, local: datetime, after: datetime, allowed: Callable[[date], bool]
) -> tuple[datetime, datetime] | None:
    """(instant, local reading) at which the next window really opens after the fire at
    ``after`` (naive reading ``local``), or None within the deferral horizon.

    A start reading in a gap does not exist: the window opens at the transition, if the
    reading there (03:00 for a 02:30 start in Berlin) is still inside the window; a window
    lying wholly in the gap does not open that day. A start in a fold occurs twice: the
    first occurrence not before the fire (so deferral never moves a fire back in time).
    """
    zone = timing.zone
    search = local
    while True:
        start = next_window_start(timing.windows, search, allowed=allowed)
        if start is None:
            return None
        kind, early, late = zone.resolve(naive_to_wall(start))
        if kind is WallKind.UNIQUE:
            return instant_to_datetime(early), start
        if kind is WallKind.GAP:
            # ``late`` (offset after) < transition <= ``early`` (offset before).
            jump = zone.transitions_between(late, early)[0][0]
            reading = zone.local_datetime(jump).replace(tzinfo=None)
            if any(w.contains(reading) for w in timing.windows):
                return instant_to_datetime(jump), reading
        else:
            for instant in (early, late):
                at = instant_to_datetime(instant)
                if at >= after:
                    return at, start
        search = start


def _resolve_local(zone: Zone, local: datetime) -> datetime:
    """A moved/deferred local reading as an instant: gap -> shift, fold -> first."""
    _, early, _ = zone.resolve(naive_to_wall(local))
    return instant_to_datetime(early)


def _short(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h"
    if seconds >= 60:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{seconds:.1f}s"

"""Preview a schedule's upcoming fires: ``kairos next`` (no server) and
``GET /schedules/{id}/next`` (a stored schedule), with one planner and one JSON shape."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from domain.calendar import BusinessCalendar
from domain.planning import PlannedFire, plan
from domain.timing import Timing

# Planning stops after this many rows even if fewer than ``count`` fires were found (a
# rule whose every fire is skipped would otherwise never end).
SCAN_LIMIT = 200_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Preview:
    fires: list[PlannedFire]
    exhausted: bool  # the rule has no further fires (end_at, max_fires, one-shot...)
    scan_limited: bool  # stopped at SCAN_LIMIT rows before finding ``count`` fires


def fired_before(
    timing: Timing,
    before: datetime,
    *,
    calendar: BusinessCalendar | None,
    schedule_id: str | None,
) -> int:
    """Fires dispatched from ``start_at`` up to (not including) ``before`` (for max_fires)."""
    if timing.max_fires is None or timing.start_at is None or timing.start_at >= before:
        return 0
    count = 0
    for fire in plan(
        timing,
        timing.start_at,
        inclusive=True,
        calendar=calendar,
        schedule_id=schedule_id,
    ):
        if fire.nominal_at >= before:
            break
        if fire.skipped is None:
            count += 1
            if count >= timing.max_fires:
                break
    return count


def preview(
    timing: Timing,
    *,
    start: datetime,
    count: int,
    calendar: BusinessCalendar | None = None,
    schedule_id: str | None = None,
    include_skipped: bool = False,
    fired: int | None = None,
) -> Preview:
    """The next ``count`` dispatched fires with nominal time at or after ``start``.

    ``fired``: fires the schedule already dispatched (for ``max_fires``); counted from
    ``start_at`` when not given.
    """
    if fired is None:
        fired = fired_before(timing, start, calendar=calendar, schedule_id=schedule_id)
    rows: list[PlannedFire] = []
    found = 0
    stream: Iterator[PlannedFire] = plan(
        timing,
        start,
        inclusive=True,
        calendar=calendar,
        schedule_id=schedule_id,
        fired=fired,
    )
    for scanned, fire in enumerate(stream, start=1):
        if fire.skipped is None:
            rows.append(fire)
            found += 1
        elif include_skipped:
            rows.append(fire)
        if found >= count:
            return Preview(fires=rows, exhausted=False, scan_limited=False)
        if scanned >= SCAN_LIMIT:
            return Preview(fires=rows, exhausted=False, scan_limited=True)
    return Preview(fires=rows, exhausted=True, scan_limited=False)


def truncate_to_minute(value: datetime) -> datetime:
    return value - timedelta(seconds=value.second, microseconds=value.microsecond)


def utc_text(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def fire_json(fire: PlannedFire) -> dict[str, Any]:
    """One fire as ``kairos next --json`` and the API print it."""
    out: dict[str, Any] = {
        "nominal_at": utc_text(fire.nominal_at),
        "dispatch_at": utc_text(fire.dispatch_at),
        "local": fire.local_at.isoformat(),
        "dispatch_local": fire.dispatch_local_at.isoformat(),
        "skipped": fire.skipped is not None,
        "notes": list(fire.notes),
    }
    if fire.skipped is not None:
        out["reason"] = fire.skipped.value
    return out

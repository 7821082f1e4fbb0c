"""Schedules, their next fires, backfills, statistics and calendars as the API answers
them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from pydantic import ConfigDict, Field

from adapters.http.models.fields import (
    EXAMPLES,
    TRIGGER_SCHEMA,
    Id,
    Instant,
    Json,
    _example,
    _iso,
    _ms,
    _Out,
)
from domain import backfill as domain_backfill
from domain import calendar as domain_calendar
from domain import run as domain_run
from domain import schedule as domain_schedule
from domain.calendar import CountryHolidays
from domain.durations import format_duration
from domain.ports import RunStats
from domain.run import RunStatus
from domain.schedule import ScheduleState


class Unset:
    """No last run was asked for (audit entries, writes): the field is left out."""


UNSET = Unset()


class DstOut(_Out):
    gap: str | None
    fold: str | None


class LastRun(_Out):
    """A schedule's last run: the run of its latest fire that has come."""

    id: Id
    status: RunStatus
    nominal_at: Instant
    finished_at: Instant | None = Field(description="when it ended; null while it has not")

    @classmethod
    def from_domain(cls, run: domain_run.Run) -> LastRun:
        return cls(
            id=str(run.id),
            status=run.status,
            nominal_at=run.nominal_at.isoformat(),
            finished_at=run.updated_at.isoformat() if run.terminal else None,
        )


class Schedule(_Out):
    model_config = _example("Schedule")
    id: Id
    name: str
    job_id: Id
    state: ScheduleState
    state_reason: str | None = Field(
        default=None,
        description="why it is paused: the note it was paused with, or why Kairos paused it "
        "itself (e.g. TARGET_GONE); cleared when it resumes",
    )
    system: bool
    trigger: Json = Field(json_schema_extra=TRIGGER_SCHEMA)
    timezone: str
    dst: DstOut
    start_at: Instant | None
    end_at: Instant | None
    max_fires: int | None
    calendar_id: Id | None
    calendar_policy: str
    windows: list[str]
    window_policy: str
    max_jitter: str
    payload: Json
    misfire_policy: str
    catchup_window: str
    max_catchup: int | None
    overlap_policy: str
    max_buffered: int
    depends_on: list[Id]
    labels: dict[str, str] = Field(default_factory=dict)
    next_fire_at: Instant | None
    last_run: LastRun | None = Field(
        default=None, description="its last run (GET /schedules and /schedules/{id})"
    )
    fire_count: int
    version: int
    created_at: Instant
    updated_at: Instant

    @classmethod
    def from_domain(
        cls,
        schedule: domain_schedule.Schedule,
        last_run: domain_run.Run | Unset | None = UNSET,
    ) -> Schedule:
        """A schedule: its identity and state, its timing's fields (flat, as sent) and
        its policies; with ``last_run`` (the reads), its last run (or null)."""
        shown = {} if isinstance(last_run, Unset) else {"last_run": last_run}
        return cls.model_validate(
            {
                **{k: None if v is None else LastRun.from_domain(v) for k, v in shown.items()},
                "id": str(schedule.id),
                "name": schedule.name,
                "job_id": str(schedule.job_id),
                "state": schedule.state,
                "state_reason": schedule.state_reason,
                "system": schedule.system,
                **schedule.timing.to_spec(),
                "payload": dict(schedule.payload),
                "misfire_policy": schedule.misfire_policy.value,
                "catchup_window": format_duration(schedule.catchup_window),
                "max_catchup": schedule.max_catchup,
                "overlap_policy": schedule.overlap_policy.value,
                "max_buffered": schedule.max_buffered,
                "depends_on": [str(u) for u in schedule.depends_on],
                "labels": dict(schedule.labels),
                "next_fire_at": _iso(schedule.next_fire_at),
                "fire_count": schedule.fire_count,
                "version": schedule.version,
                "created_at": schedule.created_at.isoformat(),
                "updated_at": schedule.updated_at.isoformat(),
            }
        )


class Fire(_Out):
    nominal_at: Instant
    dispatch_at: Instant
    local: str
    dispatch_local: str
    skipped: bool
    notes: list[str]
    reason: str | None = None


class NextFires(_Out):
    model_config = _example("NextFires")
    items: list[Fire]
    exhausted: bool


class Progress(_Out):
    runs: int
    ended: int
    by_status: dict[str, int]


class Backfill(_Out):
    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        serialize_by_alias=True,
        json_schema_extra={"examples": [EXAMPLES["Backfill"]]},
    )
    id: Id
    schedule_id: Id
    from_: Instant = Field(alias="from")
    to: Instant
    max_runs: int
    overlap_policy: str
    ignore_calendar: bool
    planned: int
    created: int
    rearmed: int
    existing: int
    next_from: Instant | None
    created_at: Instant
    progress: Progress | None = None

    @classmethod
    def from_domain(
        cls, backfill: domain_backfill.Backfill, progress: Mapping[str, int] | None = None
    ) -> Backfill:
        """A backfill; with ``progress`` (its runs by status), how far its runs got."""
        request = backfill.request
        extra: dict[str, Progress] = {}
        if progress is not None:
            ended = sum(n for status, n in progress.items() if status in _ENDED)
            runs = backfill.created + backfill.rearmed
            extra["progress"] = Progress(runs=runs, ended=ended, by_status=dict(progress))
        return cls.model_validate(
            {
                "id": str(backfill.id),
                "schedule_id": str(request.schedule_id),
                "from": request.from_at.isoformat(),
                "to": request.to_at.isoformat(),
                "max_runs": request.max_runs,
                "overlap_policy": request.overlap_policy.value,
                "ignore_calendar": request.ignore_calendar,
                "planned": backfill.planned,
                "created": backfill.created,
                "rearmed": backfill.rearmed,
                "existing": backfill.existing,
                "next_from": _iso(backfill.next_from),
                "created_at": backfill.created_at.isoformat(),
                **extra,
            }
        )


class Percentiles(_Out):
    p50: float | None
    p95: float | None


class Stats(_Out):
    model_config = _example("Stats")
    since: Instant
    runs: int
    by_status: dict[str, int]
    success_rate: float | None
    duration_ms: Percentiles
    lateness_ms: Percentiles

    @classmethod
    def from_domain(cls, stats: RunStats, since: datetime) -> Stats:
        return cls(
            since=since.isoformat(),
            runs=sum(stats.counts.values()),
            by_status=dict(stats.counts),
            success_rate=stats.success_rate,
            duration_ms=Percentiles(p50=_ms(stats.duration_p50), p95=_ms(stats.duration_p95)),
            lateness_ms=Percentiles(p50=_ms(stats.lateness_p50), p95=_ms(stats.lateness_p95)),
        )


class HolidayOut(_Out):
    date: str
    name: str


class Calendar(_Out):
    model_config = _example("Calendar")
    id: Id
    name: str
    version: int
    business_days: list[str]
    holidays: list[HolidayOut]
    sources: list[str | dict[str, str]]
    created_at: Instant
    updated_at: Instant

    @classmethod
    def from_domain(cls, calendar: domain_calendar.Calendar) -> Calendar:
        sources: list[str | dict[str, str]] = [
            str(s) if isinstance(s, CountryHolidays) else {"ical": s.text} for s in calendar.sources
        ]
        return cls(
            id=str(calendar.id),
            name=calendar.name,
            version=calendar.version,
            business_days=[DAYS[d] for d in sorted(calendar.business_days)],
            holidays=[HolidayOut(date=h.day.isoformat(), name=h.name) for h in calendar.holidays],
            sources=sources,
            created_at=calendar.created_at.isoformat(),
            updated_at=calendar.updated_at.isoformat(),
        )


class SchedulePage(_Out):
    items: list[Schedule]
    next_cursor: str | None


class CalendarPage(_Out):
    items: list[Calendar]
    next_cursor: str | None


# A backfill's runs in these statuses have ended.
_ENDED = frozenset(
    s.value
    for s in (
        RunStatus.SUCCEEDED,
        RunStatus.DEAD,
        RunStatus.CANCELLED,
        RunStatus.MISSED,
        RunStatus.SKIPPED,
    )
)


DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

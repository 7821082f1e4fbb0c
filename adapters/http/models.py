"""What the REST API answers: the response models ``/openapi.json`` shows, each
rendered from the domain object it shows (``from_domain``), with its choices taken from
the domain's enums; and the field types the request models (``requests.py``) share.

Response models forbid fields they do not declare: a route rendering a field the schema
does not know fails its tests instead of drifting from the documentation. Fields left
unset (a job's ``secret`` after its creation, a run's ``attempts`` in a list) are left
out of the answer.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr
from pydantic.json_schema import WithJsonSchema

from domain import audit as domain_audit
from domain import backfill as domain_backfill
from domain import bounds
from domain import calendar as domain_calendar
from domain import job as domain_job
from domain import run as domain_run
from domain import schedule as domain_schedule
from domain import worker as domain_worker
from domain.calendar import CountryHolidays
from domain.durations import format_duration
from domain.job import Backoff, Priority
from domain.limits import TenantLimits
from domain.ports import RunStats
from domain.run import Outcome, RunOrigin, RunStatus
from domain.schedule import MisfirePolicy, OverlapPolicy, ScheduleState
from domain.usage import TenantUsage
from domain.worker import WorkerState

# Real answers, rendered by the routes (tests check each still validates against its model).
EXAMPLES: dict[str, Any] = json.loads(
    Path(__file__).with_name("examples.json").read_text(encoding="utf-8")
)


def _example(name: str) -> ConfigDict:
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLES[name]]})


# -- shared field types ----------------------------------------------------------------

Instant = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
Id = Annotated[str, WithJsonSchema({"type": "string", "format": "uuid"})]
Duration = Annotated[
    StrictStr | StrictInt | StrictFloat,
    WithJsonSchema(
        {
            "anyOf": [{"type": "string"}, {"type": "number"}],
            "description": "ISO 8601 (PT5M), a short form (30s, 5m, 2h) or seconds",
            "examples": ["PT5M", "30s", 300],
        }
    ),
]


# Integer fields' documented ranges: the ones ``domain.bounds`` enforces.
Attempts = Annotated[StrictInt, Field(ge=1, le=bounds.MAX_ATTEMPTS)]
Concurrency = Annotated[StrictInt, Field(ge=1, le=bounds.MAX_CONCURRENCY)]
Fires = Annotated[StrictInt, Field(ge=1, le=bounds.MAX_FIRES)]
Catchup = Annotated[StrictInt, Field(ge=0, le=bounds.MAX_CATCHUP)]
Buffered = Annotated[StrictInt, Field(ge=1, le=bounds.MAX_BUFFERED)]
Capacity = Annotated[StrictInt, Field(ge=1, le=bounds.MAX_CAPACITY)]
BackfillRuns = Annotated[StrictInt, Field(ge=1, le=bounds.MAX_BACKFILL_RUNS)]
Name = Annotated[StrictStr, Field(min_length=1, max_length=bounds.MAX_NAME)]
TOKEN_EXAMPLE = "3f2a9c1e8b7d4e6fa0b1c2d3e4f5a6b7"
LeaseToken = Annotated[StrictStr, Field(min_length=1, max_length=64)]
Json = dict[str, Any]
# A priority by its lower-case name, as the API shows it.
PRIORITIES = tuple(p.name.lower() for p in Priority)


def _choices(*values: str) -> WithJsonSchema:
    """A string field whose values the domain checks, listed in the schema."""
    return WithJsonSchema({"type": "string", "enum": list(values)})


def choices_of(
    enum_type: type[enum.StrEnum], without: enum.StrEnum | None = None
) -> WithJsonSchema:
    """The values of a domain enum as a string field's choices."""
    return _choices(*(member.value for member in enum_type if member is not without))


PriorityName = Annotated[str, _choices(*PRIORITIES)]
Overlap = Annotated[StrictStr, choices_of(OverlapPolicy)]
Misfire = Annotated[StrictStr, choices_of(MisfirePolicy)]

TRIGGER_SCHEMA: Json = {
    "description": "When the schedule fires; ``type`` selects the shape.",
    "oneOf": [
        {
            "title": "CRON",
            "type": "object",
            "properties": {
                "type": {"const": "CRON"},
                "expression": {
                    "type": "string",
                    "description": "5 fields, or 6 with seconds first; L, W, # supported",
                    "examples": ["30 2 * * 1-5", "*/15 * * * * *"],
                },
            },
            "required": ["type", "expression"],
            "additionalProperties": False,
        },
        {
            "title": "RRULE",
            "type": "object",
            "properties": {
                "type": {"const": "RRULE"},
                "rrule": {"type": "string", "examples": ["FREQ=MONTHLY;BYDAY=MO;BYSETPOS=1"]},
            },
            "required": ["type", "rrule"],
            "additionalProperties": False,
        },
        {
            "title": "FIXED_DELAY",
            "type": "object",
            "properties": {
                "type": {"const": "FIXED_DELAY"},
                "every": {"anyOf": [{"type": "string"}, {"type": "number"}]},
                "mode": {"type": "string", "enum": ["rate", "delay"]},
            },
            "required": ["type", "every"],
            "additionalProperties": False,
        },
        {
            "title": "ONE_SHOT",
            "type": "object",
            "properties": {
                "type": {"const": "ONE_SHOT"},
                "at": {"type": "string", "examples": ["2026-12-24T18:00:00+01:00"]},
            },
            "required": ["type", "at"],
            "additionalProperties": False,
        },
        {
            "title": "EVENT",
            "type": "object",
            "properties": {
                "type": {"const": "EVENT"},
                "subject": {"type": "string", "examples": ["orders.created"]},
                "debounce": {"anyOf": [{"type": "string"}, {"type": "number"}]},
            },
            "required": ["type", "subject"],
            "additionalProperties": False,
        },
    ],
}
Trigger = Annotated[dict[str, Any], WithJsonSchema(TRIGGER_SCHEMA)]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- jobs --------------------------------------------------------------------------------


class TargetOut(_Out):
    kind: str
    config: Json


class BackoffOut(_Out):
    kind: str
    initial: str
    multiplier: float
    max: str

    @classmethod
    def from_domain(cls, backoff: Backoff) -> BackoffOut:
        return cls(
            kind=backoff.kind.value,
            initial=format_duration(backoff.initial),
            multiplier=backoff.multiplier,
            max=format_duration(backoff.max),
        )


class SecretRef(_Out):
    id: str
    created_at: Instant


class Job(_Out):
    model_config = _example("Job")
    id: Id
    name: str
    target: TargetOut
    max_attempts: int
    backoff: BackoffOut
    timeout: str
    max_concurrency: int | None
    priority: PriorityName
    secrets: list[SecretRef]
    disabled: str | None
    version: int
    created_at: Instant
    updated_at: Instant
    secret: str | None = Field(
        default=None, description="an HTTP job's new signing secret: shown this once"
    )
    secret_id: str | None = None

    @classmethod
    def from_domain(cls, job: domain_job.Job, *, secret: str | None = None) -> Job:
        """A job; ``secret``: its new signing secret, answered this once."""
        extra = {} if secret is None else {"secret": secret, "secret_id": job.secrets[-1].id}
        return cls(
            id=str(job.id),
            name=job.name,
            target=TargetOut(kind=job.target.kind.value, config=dict(job.target.config)),
            max_attempts=job.max_attempts,
            backoff=BackoffOut.from_domain(job.backoff),
            timeout=format_duration(job.timeout),
            max_concurrency=job.max_concurrency,
            priority=job.priority.name.lower(),
            # Never the values: they are shown once, when created.
            secrets=[SecretRef(id=s.id, created_at=s.created_at.isoformat()) for s in job.secrets],
            disabled=job.disabled,
            version=job.version,
            created_at=job.created_at.isoformat(),
            updated_at=job.updated_at.isoformat(),
            **extra,
        )


class NewSecret(_Out):
    id: str
    secret: str
    job: Job


# -- schedules ---------------------------------------------------------------------------


class DstOut(_Out):
    gap: str | None
    fold: str | None


class Schedule(_Out):
    model_config = _example("Schedule")
    id: Id
    name: str
    job_id: Id
    state: ScheduleState
    state_reason: str | None = Field(
        default=None, description="why Kairos paused it itself (e.g. TARGET_GONE), if it did"
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
    next_fire_at: Instant | None
    fire_count: int
    version: int
    created_at: Instant
    updated_at: Instant

    @classmethod
    def from_domain(cls, schedule: domain_schedule.Schedule) -> Schedule:
        """A schedule: its identity and state, its timing's fields (flat, as sent) and
        its policies."""
        return cls.model_validate(
            {
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


# -- calendars ---------------------------------------------------------------------------


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


# -- runs --------------------------------------------------------------------------------


class CalendarRef(_Out):
    id: Id
    version: int


class Attempt(_Out):
    number: int
    worker_id: Id
    started_at: Instant
    ended_at: Instant | None
    outcome: Outcome | None
    error: str | None
    duration_ms: float | None
    response: Json | None

    @classmethod
    def from_domain(cls, a: domain_run.Attempt) -> Attempt:
        duration = a.duration
        return cls(
            number=a.number,
            worker_id=str(a.worker_id),
            started_at=a.started_at.isoformat(),
            ended_at=_iso(a.ended_at),
            outcome=a.outcome,
            error=a.error,
            duration_ms=round(duration.total_seconds() * 1000, 3) if duration else None,
            response=dict(a.detail) if a.detail is not None else None,
        )


class Run(_Out):
    model_config = _example("Run")
    id: Id
    schedule_id: Id
    job_id: Id
    nominal_at: Instant
    dispatch_at: Instant
    status: RunStatus
    reason: str | None
    missed_count: int | None
    origin: RunOrigin
    backfill_id: Id | None
    calendar: CalendarRef | None
    attempt: int
    max_attempts: int
    priority: PriorityName
    available_at: Instant
    lease_until: Instant | None
    timeout_at: Instant | None
    worker_id: Id | None
    cancel_requested: str | None = Field(description="why a cancel was asked for, if one was")
    payload: Json
    tzdata_version: str | None = Field(
        default=None, description="the tzdata release whose zone rules planned this fire"
    )
    created_at: Instant
    updated_at: Instant
    attempts: list[Attempt] | None = Field(default=None, description="GET /runs/{id} only")

    @classmethod
    def from_domain(cls, run: domain_run.Run, *, attempts: bool = False) -> Run:
        """A run; with ``attempts`` (``GET /runs/{id}``), each of its attempts."""
        extra = {"attempts": [Attempt.from_domain(a) for a in run.attempts]} if attempts else {}
        calendar = run.calendar
        return cls(
            id=str(run.id),
            schedule_id=str(run.schedule_id),
            job_id=str(run.job_id),
            nominal_at=run.nominal_at.isoformat(),
            dispatch_at=run.dispatch_at.isoformat(),
            status=run.status,
            reason=run.reason,
            missed_count=run.missed_count,
            origin=run.origin,
            backfill_id=str(run.backfill_id) if run.backfill_id else None,
            calendar=CalendarRef(id=str(calendar[0]), version=calendar[1]) if calendar else None,
            attempt=run.attempt,
            max_attempts=run.max_attempts,
            priority=run.priority.name.lower(),
            available_at=run.available_at.isoformat(),
            lease_until=_iso(run.lease_until),
            timeout_at=_iso(run.timeout_at),
            worker_id=str(run.worker_id) if run.worker_id else None,
            cancel_requested=run.cancel_requested,
            payload=dict(run.payload),
            tzdata_version=run.tzdata_version,
            created_at=run.created_at.isoformat(),
            updated_at=run.updated_at.isoformat(),
            **extra,
        )


# -- workers -----------------------------------------------------------------------------


class Worker(_Out):
    model_config = _example("Worker")
    id: Id
    name: str
    capabilities: list[str]
    capacity: int
    version: str
    labels: Json
    state: WorkerState
    heartbeat_interval: str
    registered_at: Instant
    last_heartbeat_at: Instant
    lease: str | None = Field(default=None, description="the default lease (registration)")

    @classmethod
    def from_domain(cls, worker: domain_worker.Worker, *, lease: timedelta | None = None) -> Worker:
        """A worker; ``lease``: the default lease, answered at registration."""
        extra = {} if lease is None else {"lease": format_duration(lease)}
        return cls(
            id=str(worker.id),
            name=worker.name,
            capabilities=sorted(worker.capabilities),
            capacity=worker.capacity,
            version=worker.version,
            labels=dict(worker.labels),
            state=worker.state,
            heartbeat_interval=format_duration(worker.heartbeat_interval),
            registered_at=worker.registered_at.isoformat(),
            last_heartbeat_at=worker.last_heartbeat_at.isoformat(),
            **extra,
        )


class HeartbeatOut(_Out):
    state: WorkerState
    drain: bool
    cancel: list[Id]
    lost: list[Id]


class ClaimedJob(_Out):
    id: Id
    name: str
    target: TargetOut


class ClaimedRun(_Out):
    run_id: Id
    lease_token: str = Field(
        description="the lease's proof: send it with every heartbeat, completion and failure"
    )
    lease_until: Instant | None
    timeout_at: Instant | None
    attempt: int
    max_attempts: int
    schedule_id: Id
    nominal_at: Instant
    origin: RunOrigin
    priority: PriorityName
    type: str
    payload: Json
    job: ClaimedJob | None

    @classmethod
    def from_domain(cls, run: domain_run.Run, job: domain_job.Job | None) -> ClaimedRun:
        """A run as an external worker receives it: what to do and the lease to do it
        under. A job's signing secrets never leave Kairos."""
        return cls(
            run_id=str(run.id),
            lease_token=run.lease_secret or "",
            lease_until=_iso(run.lease_until),
            timeout_at=_iso(run.timeout_at),
            attempt=run.attempt,
            max_attempts=run.max_attempts,
            schedule_id=str(run.schedule_id),
            nominal_at=run.nominal_at.isoformat(),
            origin=run.origin,
            priority=run.priority.name.lower(),
            type=run.capability,
            payload=dict(run.payload),
            job=None
            if job is None
            else ClaimedJob(
                id=str(job.id),
                name=job.name,
                target=TargetOut(kind=job.target.kind.value, config=dict(job.target.config)),
            ),
        )


class ClaimOut(_Out):
    runs: list[ClaimedRun]
    drain: bool


class ReportOut(_Out):
    recorded: list[Id]
    lost: list[Id]


# -- pages, audit, usage, health ---------------------------------------------------------


class JobPage(_Out):
    items: list[Job]
    next_cursor: str | None


class SchedulePage(_Out):
    items: list[Schedule]
    next_cursor: str | None


class CalendarPage(_Out):
    items: list[Calendar]
    next_cursor: str | None


class RunPage(_Out):
    items: list[Run]
    next_cursor: str | None


class WorkerPage(_Out):
    items: list[Worker]
    next_cursor: str | None


class AuditEntry(_Out):
    id: Id
    at: Instant
    actor: str
    method: str
    path: str
    status: int
    before: Json | None
    after: Json | None

    @classmethod
    def from_domain(cls, entry: domain_audit.AuditEntry) -> AuditEntry:
        return cls(
            id=str(entry.id),
            at=entry.at.isoformat(),
            actor=entry.actor,
            method=entry.method,
            path=entry.path,
            status=entry.status,
            before=None if entry.before is None else dict(entry.before),
            after=None if entry.after is None else dict(entry.after),
        )


class AuditPage(_Out):
    items: list[AuditEntry]
    next_cursor: str | None


class ScheduleUsage(_Out):
    live: int
    enabled: int
    limit: int


class RunUsage(_Out):
    running: int
    running_limit: int | None
    queued: int
    waiting: int
    ended: dict[str, int]


class Usage(_Out):
    tenant_id: str
    schedules: ScheduleUsage
    jobs: int
    runs: RunUsage
    workers: int

    @classmethod
    def from_domain(cls, usage: TenantUsage, limits: TenantLimits) -> Usage:
        return cls(**cls.fields_of(usage, limits))

    @staticmethod
    def fields_of(usage: TenantUsage, limits: TenantLimits) -> dict[str, Any]:
        return {
            "tenant_id": usage.tenant_id,
            "schedules": ScheduleUsage(
                live=usage.schedules, enabled=usage.enabled, limit=limits.max_schedules
            ),
            "jobs": usage.jobs,
            "runs": RunUsage(
                running=usage.running,
                running_limit=limits.max_running,
                queued=usage.queued,
                waiting=usage.waiting,
                ended=dict(usage.ended),
            ),
            "workers": usage.workers,
        }


class OwnUsage(Usage):
    model_config = _example("OwnUsage")
    since: Instant


class EveryUsage(_Out):
    since: Instant
    items: list[Usage]


class ReplannedSchedule(_Out):
    tenant_id: str
    schedule_id: Id
    name: str
    timezone: str
    tzdata_from: str
    tzdata_to: str
    old_next_fire_at: Instant | None
    new_next_fire_at: Instant | None
    replanned_at: Instant


class ZoneRules(_Out):
    version: str = Field(description="the tzdata release of this replica's zone rules")
    deployment: str | None = Field(
        description="the release the stored next fires were planned with (the leader's)"
    )
    items: list[ReplannedSchedule] = Field(
        description="schedules whose next fire a tzdata change moved, newest first"
    )


class Live(_Out):
    status: Literal["live"]


class Ready(_Out):
    status: Literal["ready", "not ready"]
    checks: dict[str, Json]


# -- errors (the envelope; docs/engine.md, *API and documents*) --------------------

ErrorCode = Literal[
    "INVALID_SCHEDULE",
    "INVALID_REQUEST",
    "NOT_FOUND",
    "CONFLICT",
    "LEASE_LOST",
    "EXECUTION_FAILED",
    "UNAUTHORIZED",
    "FORBIDDEN",
    "RATE_LIMITED",
    "UNAVAILABLE",
    "INTERNAL",
]


class ErrorBody(_Out):
    code: ErrorCode
    message: str
    details: Json = Field(description="``field`` names the offending field where one does")
    timestamp: Instant


class Error(_Out):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "error": {
                        "code": "INVALID_SCHEDULE",
                        "message": "trigger.expression: expected 5 or 6 fields",
                        "details": {"field": "trigger.expression"},
                        "timestamp": "2026-11-23T09:00:00Z",
                    }
                }
            ]
        }
    )
    error: ErrorBody


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


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

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": Error, "description": description}
    for status, description in {
        400: "malformed JSON",
        401: "no or bad token (UNAUTHORIZED, with WWW-Authenticate)",
        403: "the token's scope is too low (FORBIDDEN)",
        404: "no such object for this tenant (NOT_FOUND)",
        409: "a conflict: version, state or lease (CONFLICT, LEASE_LOST)",
        422: "invalid input, naming the field (INVALID_REQUEST, INVALID_SCHEDULE)",
        429: "over the tenant's rate limit (RATE_LIMITED, with Retry-After)",
        503: "a backing service is unavailable (UNAVAILABLE)",
    }.items()
}

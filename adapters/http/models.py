"""The REST API's request and response models: what ``/openapi.json`` shows.

Two layers validate a request, each with its own job:

- these models type the transport: which fields exist (unknown ones are refused), their
  JSON types (strict: ``"5"`` is not a number, ``true`` is not a count) and which are
  required. A violation is 422 ``INVALID_REQUEST`` naming the field's path.
- ``service/specs.py`` and the domain validate meaning (a cron expression, a time zone,
  a duration, a policy name) and answer 422 ``INVALID_SCHEDULE`` or
  ``INVALID_REQUEST`` naming the field. ``kairos apply`` uses the same parsers, so a
  YAML file and a request are judged alike.

So fields whose meaning the domain checks (durations, policy names, the trigger) are
typed as their JSON type here, with the accepted values in their description and
schema. Response models forbid fields they do not declare: a route rendering a field
the schema does not know fails its tests instead of drifting from the documentation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr
from pydantic.json_schema import WithJsonSchema

from domain import bounds
from domain.run import Outcome, RunOrigin, RunStatus
from domain.schedule import ScheduleState
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
PriorityName = Literal["low", "normal", "high", "critical"]
Json = dict[str, Any]


def _choices(*values: str) -> Any:
    """A string field whose values the domain checks, listed in the schema."""
    return WithJsonSchema({"type": "string", "enum": list(values)})


Overlap = Annotated[StrictStr, _choices("skip", "buffer_one", "buffer_all", "replace", "allow")]
Misfire = Annotated[StrictStr, _choices("run_once", "run_all", "skip")]

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


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- jobs --------------------------------------------------------------------------------


class TargetIn(_In):
    kind: Annotated[StrictStr, _choices("EVENT", "QUEUE", "HTTP", "WORKER")]
    config: Json = Field(
        default_factory=dict,
        description="EVENT/QUEUE: {subject}; HTTP: {url, method, headers, body, "
        "expected_status, timeout}; WORKER: {type}",
    )


class BackoffIn(_In):
    kind: Annotated[StrictStr, _choices("fixed", "exponential")] | None = None
    initial: Duration | None = None
    multiplier: StrictFloat | StrictInt | None = None
    max: Duration | None = None


JOB_EXAMPLE: Json = {
    "name": "nightly-report",
    "target": {"kind": "EVENT", "config": {"subject": "reports.generate"}},
    "max_attempts": 5,
    "backoff": {"kind": "exponential", "initial": "PT2S", "multiplier": 3, "max": "PT10M"},
    "timeout": "PT90S",
    "max_concurrency": 2,
    "priority": "high",
}


class JobPatch(_In):
    """Only the fields sent change."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"max_attempts": 3}]})
    name: Name | None = None
    target: TargetIn | None = None
    max_attempts: Attempts | None = None
    backoff: BackoffIn | None = None
    timeout: Duration | None = None
    max_concurrency: Concurrency | None = None
    priority: Annotated[StrictStr, _choices("low", "normal", "high", "critical")] | None = None


class JobCreate(JobPatch):
    model_config = ConfigDict(json_schema_extra={"examples": [JOB_EXAMPLE]})
    name: Name
    target: TargetIn


class SecretIn(_In):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{}, {"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}]}
    )
    secret: StrictStr | None = Field(
        default=None, description="a whsec_ secret to add; omitted: one is generated"
    )


class TargetOut(_Out):
    kind: str
    config: Json


class BackoffOut(_Out):
    kind: str
    initial: str
    multiplier: float
    max: str


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


class NewSecret(_Out):
    id: str
    secret: str
    job: Job


# -- schedules ---------------------------------------------------------------------------


class DstIn(_In):
    gap: Annotated[StrictStr, _choices("shift", "skip")] | None = None
    fold: Annotated[StrictStr, _choices("first", "second", "both")] | None = None


class _Timing(_In):
    trigger: Trigger | None = None
    timezone: StrictStr | None = Field(default=None, examples=["Europe/Berlin"])
    dst: DstIn | None = None
    start_at: StrictStr | None = None
    end_at: StrictStr | None = None
    max_fires: Fires | None = None
    calendar_id: StrictStr | None = None
    calendar_policy: (
        Annotated[StrictStr, _choices("skip", "next_business_day", "previous_business_day")] | None
    ) = None
    windows: list[StrictStr] | None = Field(default=None, examples=[["mon-fri 08:00-18:00"]])
    window_policy: Annotated[StrictStr, _choices("defer", "skip")] | None = None
    max_jitter: Duration | None = None
    payload: Json | None = None
    misfire_policy: Misfire | None = None
    catchup_window: Duration | None = None
    max_catchup: Catchup | None = None
    overlap_policy: Overlap | None = None
    max_buffered: Buffered | None = None
    depends_on: list[StrictStr] | None = None


SCHEDULE_EXAMPLE: Json = {
    "name": "sales-report",
    "job_id": "6f1c2c1e-6d3f-4b0e-9a51-3c1f0f5f9e20",
    "trigger": {"type": "CRON", "expression": "30 2 * * 1-5"},
    "timezone": "Europe/Berlin",
    "dst": {"gap": "shift", "fold": "first"},
    "payload": {"report": "sales"},
    "misfire_policy": "run_once",
    "overlap_policy": "skip",
}


class ScheduleCreate(_Timing):
    model_config = ConfigDict(json_schema_extra={"examples": [SCHEDULE_EXAMPLE]})
    name: Name
    job_id: StrictStr


class SchedulePatch(_Timing):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"trigger": {"type": "CRON", "expression": "0 4 * * *"}}]}
    )
    name: Name | None = None
    job_id: StrictStr | None = None


class ResumeIn(_In):
    model_config = ConfigDict(json_schema_extra={"examples": [{"resume_from": "now"}]})
    resume_from: Annotated[StrictStr, _choices("last_fire", "now")] = "last_fire"


class TriggerIn(_In):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"payload": {"report": "sales", "rerun": True}}]}
    )
    payload: Json = Field(default_factory=dict)
    overlap_policy: Overlap | None = None


class BackfillIn(_In):
    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {"from": "2026-11-01T00:00:00Z", "to": "2026-11-08T00:00:00Z", "max_runs": 500}
            ]
        },
    )
    from_: StrictStr = Field(alias="from")
    to: StrictStr
    max_runs: BackfillRuns | None = None
    overlap_policy: Overlap | None = None
    ignore_calendar: bool | None = None


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


# -- calendars ---------------------------------------------------------------------------


class HolidayIn(_In):
    date: StrictStr = Field(examples=["2026-12-24"])
    name: Name | None = None


class SourceIn(_In):
    country: StrictStr | None = Field(default=None, examples=["DE"])
    subdivision: StrictStr | None = Field(default=None, examples=["BY"])
    ical: StrictStr | None = Field(default=None, description="an iCalendar document")


CALENDAR_EXAMPLE: Json = {
    "name": "bavaria",
    "business_days": ["mon", "tue", "wed", "thu", "fri"],
    "holidays": [{"date": "2026-12-24", "name": "Christmas Eve"}],
    "sources": ["DE-BY"],
}
Weekday = StrictInt | StrictStr
Source = StrictStr | SourceIn


class CalendarPatch(_In):
    """Only the fields sent change."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"sources": ["DE-BY", "AT"]}]})
    name: Name | None = None
    business_days: list[Weekday] | None = None
    holidays: list[HolidayIn] | None = None
    sources: list[Source] | None = None


class CalendarCreate(CalendarPatch):
    model_config = ConfigDict(json_schema_extra={"examples": [CALENDAR_EXAMPLE]})
    name: Name


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


class CompleteIn(_In):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"token": TOKEN_EXAMPLE, "detail": {"rows": 12}}]}
    )
    token: LeaseToken = Field(description="the run's lease token, from the claim")
    detail: Json | None = Field(default=None, description="kept on the attempt (4 KiB at most)")


class FailIn(CompleteIn):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"token": TOKEN_EXAMPLE, "error": "store busy", "retry_after": 90}]
        }
    )
    error: StrictStr
    retry_after: StrictInt | StrictFloat | None = Field(
        default=None, description="seconds; the retry waits at least this long"
    )


# -- workers -----------------------------------------------------------------------------


class WorkerIn(_In):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "reports-1",
                    "capabilities": ["reports.generate"],
                    "capacity": 8,
                    "version": "1.4.2",
                    "labels": {"zone": "eu-1"},
                    "heartbeat_interval": "PT5S",
                }
            ]
        }
    )
    name: Name
    capabilities: list[StrictStr]
    capacity: Capacity | None = None
    version: StrictStr | None = None
    labels: dict[str, Any] | None = None
    heartbeat_interval: Duration | None = None


class HeartbeatIn(_In):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"held": {"0f8e0d4e-3a1b-4c55-9d7a-2b5e8f1a9c00": 42}}]}
    )
    held: dict[str, LeaseToken] | None = Field(default=None, description="run id -> lease token")
    lease: Duration | None = None


class ClaimIn(_In):
    model_config = ConfigDict(json_schema_extra={"examples": [{"max": 8, "wait": 20}]})
    max: StrictInt | StrictFloat | None = Field(default=None, description="1..100 runs")
    wait: StrictInt | StrictFloat | None = Field(default=None, description="0..30 seconds")
    lease: Duration | None = None


class OutcomeIn(_In):
    run_id: StrictStr
    token: LeaseToken
    error: StrictStr | None = Field(default=None, description="absent: success")
    retry_after: StrictInt | StrictFloat | None = None
    detail: Json | None = None


class ReportIn(_In):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "outcomes": [
                        {"run_id": "0f8e0d4e-3a1b-4c55-9d7a-2b5e8f1a9c00", "token": TOKEN_EXAMPLE},
                        {
                            "run_id": "5d2c8b1a-7e6f-4a3b-8c9d-0e1f2a3b4c5d",
                            "token": "9c1b2d3e4f5a6b7c8d9e0f1a2b3c4d5e",
                            "error": "upstream 503",
                        },
                    ]
                }
            ]
        }
    )
    outcomes: list[Any] = Field(description="at most 500, each an OutcomeIn")


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


# -- errors (SEMANTICS 14) -----------------------------------------------------------------

ErrorCode = Literal[
    "INVALID_SCHEDULE",
    "INVALID_REQUEST",
    "NOT_FOUND",
    "CONFLICT",
    "LEASE_LOST",
    "TASK_LOCKED",
    "EXECUTION_FAILED",
    "DEPENDENCY_FAILED",
    "TIMEOUT",
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

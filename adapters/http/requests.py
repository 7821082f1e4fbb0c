"""What callers send the REST API: the request models ``/openapi.json`` shows.

Two layers validate a request, each with its own job:

- these models type the transport: which fields exist (unknown ones are refused), their
  JSON types (strict: ``"5"`` is not a number, ``true`` is not a count) and which are
  required. A violation is 422 ``INVALID_REQUEST`` naming the field's path.
- ``service/usecases/parsing/`` and the domain check meaning (a cron expression, a
  time zone, a duration, a policy name) while building the typed command
  (``service/usecases/commands.py``) and answer 422 ``INVALID_SCHEDULE`` or
  ``INVALID_REQUEST`` naming the field. ``kairos apply`` builds its commands with the
  same parsers, so a YAML file and a request are judged alike.

So fields whose meaning the domain checks (durations, policy names, the trigger) are
typed as their JSON type here, with the accepted values (the domain enums' values) in
their schema. ``fields()`` is what the caller sent, as the document the parsers read.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr

from adapters.http.models import (
    PRIORITIES,
    TOKEN_EXAMPLE,
    Attempts,
    BackfillRuns,
    Buffered,
    Capacity,
    Catchup,
    Concurrency,
    Duration,
    Fires,
    Json,
    LeaseToken,
    Misfire,
    Name,
    Overlap,
    Trigger,
    choices,
    choices_of,
)
from domain.firing import FoldPolicy, GapPolicy
from domain.job import BackoffKind, TargetKind
from domain.timing import CalendarPolicy, WindowPolicy
from service.usecases.schedules import ResumeFrom

# Key/value marks of the caller's own (``kairos apply`` marks what it created with
# ``kairos.dev/managed-by: apply``); checked by the parser (service/usecases/parsing).
Labels = Annotated[
    dict[StrictStr, StrictStr],
    Field(examples=[{"team": "billing"}], description="the caller's own key/value marks"),
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    def fields(self) -> dict[str, object]:
        """The fields the caller sent (a PATCH changes only those), by their JSON names."""
        sent: dict[str, object] = self.model_dump(exclude_unset=True, by_alias=True)
        return sent


class TargetIn(_In):
    kind: Annotated[StrictStr, choices_of(TargetKind, without=TargetKind.SYSTEM)]
    config: Json = Field(
        default_factory=dict,
        description="EVENT: {subject}; QUEUE: {queue}; HTTP: {url, method, headers, body, "
        "expected_status, timeout}; WORKER: {type}",
    )


class BackoffIn(_In):
    kind: Annotated[StrictStr, choices_of(BackoffKind)] | None = None
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
    priority: Annotated[StrictStr, choices(*PRIORITIES)] | None = None
    labels: Labels | None = None


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


class DstIn(_In):
    gap: Annotated[StrictStr, choices_of(GapPolicy)] | None = None
    fold: Annotated[StrictStr, choices_of(FoldPolicy)] | None = None


class _Timing(_In):
    trigger: Trigger | None = None
    timezone: StrictStr | None = Field(default=None, examples=["Europe/Berlin"])
    dst: DstIn | None = None
    start_at: StrictStr | None = None
    end_at: StrictStr | None = None
    max_fires: Fires | None = None
    calendar_id: StrictStr | None = None
    calendar_policy: Annotated[StrictStr, choices_of(CalendarPolicy)] | None = None
    windows: list[StrictStr] | None = Field(default=None, examples=[["mon-fri 08:00-18:00"]])
    window_policy: Annotated[StrictStr, choices_of(WindowPolicy)] | None = None
    max_jitter: Duration | None = None
    payload: Json | None = None
    misfire_policy: Misfire | None = None
    catchup_window: Duration | None = None
    max_catchup: Catchup | None = None
    overlap_policy: Overlap | None = None
    max_buffered: Buffered | None = None
    depends_on: list[StrictStr] | None = None
    labels: Labels | None = None


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


class PauseIn(_In):
    model_config = ConfigDict(json_schema_extra={"examples": [{"note": "vendor maintenance"}]})
    note: Annotated[StrictStr, Field(max_length=500)] | None = Field(
        default=None, description="why it is paused: shown as its state_reason until it resumes"
    )


class ResumeIn(_In):
    model_config = ConfigDict(json_schema_extra={"examples": [{"resume_from": "now"}]})
    resume_from: Annotated[StrictStr, choices_of(ResumeFrom)] = "last_fire"


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

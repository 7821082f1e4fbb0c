"""What a caller asks the use cases to do, typed: the REST API builds these from its
request models, ``kairos apply`` from its documents (through the same models), so a
request and a file are judged alike and the use cases see one shape.

A field left ``KEEP`` in an update is not changed (``None`` is a value: no limit, no
calendar). The meaning of each field (ranges, names, the limits of ``domain.bounds``)
is checked when the command is built (``service/usecases/parsing/``); the domain
checks its own invariants when the entity is built. A backfill's command is the
domain's own ``BackfillRequest``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from domain.backfill import BackfillRequest
from domain.calendar import MON_FRI, Holiday, HolidaySource
from domain.changes import KEEP, Keep
from domain.ids import CalendarId, JobId, RunId, ScheduleId, TenantId
from domain.job import Backoff, Priority, Target
from domain.schedule import DEFAULT_CATCHUP_WINDOW, MisfirePolicy, OverlapPolicy
from domain.timing import Timing
from domain.worker import DEFAULT_HEARTBEAT

StartBackfill = BackfillRequest
# A JSON object as the caller sent it (payloads, a worker's detail): its values are
# whatever JSON holds, checked for size and text by ``domain.bounds``.
JsonObject = Mapping[str, object]


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateJob:
    tenant_id: TenantId
    name: str
    target: Target
    max_attempts: int = 3
    backoff: Backoff = field(default_factory=Backoff)
    timeout: timedelta = timedelta(minutes=5)
    max_concurrency: int | None = None
    priority: Priority = Priority.NORMAL
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviseJob:
    tenant_id: TenantId
    job_id: JobId
    name: str | Keep = KEEP
    target: Target | Keep = KEEP
    max_attempts: int | Keep = KEEP
    backoff: Backoff | Keep = KEEP
    timeout: timedelta | Keep = KEEP
    max_concurrency: int | Keep | None = KEEP
    priority: Priority | Keep = KEEP
    labels: Mapping[str, str] | Keep = KEEP


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateSchedule:
    tenant_id: TenantId
    name: str
    job_id: JobId
    timing: Timing
    payload: JsonObject = field(default_factory=dict)
    misfire_policy: MisfirePolicy = MisfirePolicy.RUN_ONCE
    catchup_window: timedelta = DEFAULT_CATCHUP_WINDOW
    max_catchup: int = 100
    overlap_policy: OverlapPolicy = OverlapPolicy.SKIP
    max_buffered: int = 100
    depends_on: tuple[ScheduleId, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateSchedule:
    tenant_id: TenantId
    schedule_id: ScheduleId
    name: str | Keep = KEEP
    job_id: JobId | Keep = KEEP
    timing: Timing | Keep = KEEP
    payload: JsonObject | Keep = KEEP
    misfire_policy: MisfirePolicy | Keep = KEEP
    catchup_window: timedelta | Keep = KEEP
    max_catchup: int | Keep = KEEP
    overlap_policy: OverlapPolicy | Keep = KEEP
    max_buffered: int | Keep = KEEP
    depends_on: tuple[ScheduleId, ...] | Keep = KEEP
    labels: Mapping[str, str] | Keep = KEEP
    expected_version: int | None = None  # If-Match: refuse when the stored one differs


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateCalendar:
    tenant_id: TenantId
    name: str
    business_days: frozenset[int] = MON_FRI
    holidays: tuple[Holiday, ...] = ()
    sources: tuple[HolidaySource, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateCalendar:
    tenant_id: TenantId
    calendar_id: CalendarId
    name: str | Keep = KEEP
    business_days: frozenset[int] | Keep = KEEP
    holidays: tuple[Holiday, ...] | Keep = KEEP
    sources: tuple[HolidaySource, ...] | Keep = KEEP


@dataclass(frozen=True, slots=True, kw_only=True)
class TriggerSchedule:
    """Fire a schedule now (named by id, or by name over NATS)."""

    tenant_id: TenantId
    schedule_id: ScheduleId | None = None
    name: str | None = None
    payload: JsonObject = field(default_factory=dict)
    overlap: OverlapPolicy | None = None  # None: the schedule's own policy
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterWorker:
    tenant_id: TenantId
    name: str
    capabilities: frozenset[str]
    capacity: int = 1
    version: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    heartbeat_interval: timedelta = DEFAULT_HEARTBEAT


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportRun:
    """An external worker's outcome for one run it holds, under the lease's token
    (``error`` None is success). The use case reads the run and decides on it as a
    ``runs.Report``, the outcome of one attempt with the run in hand."""

    run_id: RunId
    token: str
    error: str | None = None
    retry_after: timedelta | None = None
    detail: JsonObject | None = None

"""Runs and the external worker protocol's answers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import Field

from adapters.http.models.fields import (
    Id,
    Instant,
    Json,
    PriorityName,
    _example,
    _iso,
    _Out,
)
from adapters.http.models.jobs import (
    TargetOut,
)
from domain import job as domain_job
from domain import run as domain_run
from domain import worker as domain_worker
from domain.durations import format_duration
from domain.run import Outcome, RunOrigin, RunStatus
from domain.worker import WorkerState


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
    schedule_name: str | None = Field(
        default=None, description="the schedule's name when the run was made"
    )
    job_id: Id
    job_name: str | None = Field(default=None, description="the job's name when the run was made")
    nominal_at: Instant
    dispatch_at: Instant
    status: RunStatus
    reason: str | None
    waiting_for: str | None = Field(
        default=None,
        description="why a pending or waiting run is not running yet (computed when read): "
        "no capable worker online, tenant at its running cap, waiting for upstream, "
        "buffered behind its schedule's earlier run, or its retry backoff",
    )
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
    def from_domain(
        cls, run: domain_run.Run, *, attempts: bool = False, waiting_for: str | None = None
    ) -> Run:
        """A run; with ``attempts`` (``GET /runs/{id}``), each of its attempts;
        ``waiting_for``: why it is not running yet, when the read computed it."""
        extra: dict[str, Any] = (
            {"attempts": [Attempt.from_domain(a) for a in run.attempts]} if attempts else {}
        )
        if waiting_for is not None:
            extra["waiting_for"] = waiting_for
        calendar = run.calendar
        return cls(
            id=str(run.id),
            schedule_id=str(run.schedule_id),
            schedule_name=run.schedule_name,
            job_id=str(run.job_id),
            job_name=run.job_name,
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


class RunPage(_Out):
    items: list[Run]
    next_cursor: str | None


class WorkerPage(_Out):
    items: list[Worker]
    next_cursor: str | None

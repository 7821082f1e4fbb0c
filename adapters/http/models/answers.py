"""The audit trail, usage, zone rules, health and the error envelope as the API
answers them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from adapters.http.models.fields import (
    Id,
    Instant,
    Json,
    _example,
    _Out,
)
from domain import audit as domain_audit
from domain.limits import TenantLimits
from domain.usage import TenantUsage


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


class PartitionLease(_Out):
    partition: int
    epoch: int = Field(description="the lease's epoch: it grows by one at each hand-over")


class ReplicaShare(_Out):
    name: str
    live: bool = Field(
        description="its membership row is current (false: known only from a lease it holds)"
    )
    started_at: Instant | None
    seen_at: Instant | None = Field(description="its last beat")
    leader_epoch: int | None = Field(
        description="the cluster-wide lease's epoch, when this replica holds it"
    )
    partitions: list[PartitionLease] = Field(description="the partitions it leads now")


class Replicas(_Out):
    partitions: int = Field(description="the deployment's partition count")
    unleased: list[int] = Field(description="partitions no replica holds a live lease of")
    items: list[ReplicaShare]


class Live(_Out):
    status: Literal["live"]


class Ready(_Out):
    status: Literal["ready", "not ready"]
    checks: dict[str, Json]


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

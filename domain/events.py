"""Domain events (docs/semantics.md, *Events*).

Aggregates return events alongside their new state; the unit of work writes them to the
outbox in the same transaction. Event ids are derived from (aggregate, type, revision) so
re-running the same decision produces the same id, which makes outbox inserts and the
JetStream ``Nats-Msg-Id`` dedupe naturally.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from domain.ids import EventId, TenantId

EVENT_NAMESPACE = uuid.UUID("0d5c55a1-7f0e-5d35-8a2c-6b61697273e5")


class EventType(enum.StrEnum):
    SCHEDULE_CREATED = "scheduler.schedule.created"
    SCHEDULE_UPDATED = "scheduler.schedule.updated"
    SCHEDULE_ENABLED = "scheduler.schedule.enabled"
    SCHEDULE_DISABLED = "scheduler.schedule.disabled"
    SCHEDULE_DELETED = "scheduler.schedule.deleted"
    SCHEDULE_COMPLETED = "scheduler.schedule.completed"
    RUN_STARTED = "scheduler.run.started"
    RUN_SUCCEEDED = "scheduler.run.succeeded"
    RUN_FAILED = "scheduler.run.failed"
    RUN_MISSED = "scheduler.run.missed"
    RUN_SKIPPED = "scheduler.run.skipped"
    RUN_CANCELLED = "scheduler.run.cancelled"
    RUN_DEAD = "scheduler.run.dead"
    JOB_DELETED = "scheduler.job.deleted"
    WORKER_REGISTERED = "scheduler.worker.registered"
    WORKER_HEARTBEAT = "scheduler.worker.heartbeat"
    WORKER_OFFLINE = "scheduler.worker.offline"


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainEvent:
    id: EventId
    type: EventType
    tenant_id: TenantId
    aggregate_id: uuid.UUID
    occurred_at: datetime
    data: Mapping[str, Any] = field(default_factory=dict)
    # W3C trace context the change happened in (CloudEvents distributed-tracing extension)
    traceparent: str | None = None

    @property
    def subject(self) -> str:
        """NATS subject: the type then the tenant (``scheduler.run.failed.acme``)."""
        return f"{self.type.value}.{self.tenant_id}"

    @classmethod
    def of(
        cls,
        type: EventType,
        *,
        tenant_id: TenantId,
        aggregate_id: uuid.UUID,
        revision: int | str,
        occurred_at: datetime,
        data: Mapping[str, Any] | None = None,
        traceparent: str | None = None,
    ) -> DomainEvent:
        """An event whose id is derived from (aggregate, type, revision)."""
        event_id = EventId(uuid.uuid5(EVENT_NAMESPACE, f"{aggregate_id}|{type.value}|{revision}"))
        return cls(
            id=event_id,
            type=type,
            tenant_id=tenant_id,
            aggregate_id=aggregate_id,
            occurred_at=occurred_at,
            data=dict(data or {}),
            traceparent=traceparent,
        )

    def with_data(self, **more: Any) -> DomainEvent:
        """The same event (same id) with more fields in its data."""
        return replace(self, data={**self.data, **more})


def traced(events: Sequence[DomainEvent], traceparent: str | None) -> Sequence[DomainEvent]:
    """The events, those without a trace context given ``traceparent`` (the request,
    fire or delivery that made them): what the outbox stores with each event."""
    if traceparent is None or all(event.traceparent for event in events):
        return events
    return [e if e.traceparent else replace(e, traceparent=traceparent) for e in events]

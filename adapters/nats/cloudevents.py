"""Domain events as CloudEvents 1.0 structured JSON (docs/semantics.md, *Events*)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from adapters import jsonfast
from domain.events import DomainEvent, EventType
from domain.ids import EventId, TenantId

SOURCE = "kairos"


def envelope(event: DomainEvent) -> dict[str, Any]:
    """The structured CloudEvent; ``traceparent`` (distributed-tracing extension) when
    the change happened in a traced request."""
    doc = {
        "specversion": "1.0",
        "id": str(event.id),
        "source": SOURCE,
        "type": event.type.value,
        "time": event.occurred_at.isoformat().replace("+00:00", "Z"),
        "subject": str(event.aggregate_id),
        "datacontenttype": "application/json",
        "tenantid": event.tenant_id,
        "data": dict(event.data),
    }
    if event.traceparent:
        doc["traceparent"] = event.traceparent
    return doc


def encode(event: DomainEvent) -> bytes:
    return jsonfast.dumps(envelope(event))


def decode(body: bytes) -> DomainEvent:
    """The event ``encode`` wrote (the outbox keeps events encoded)."""
    doc = jsonfast.loads(body)
    return DomainEvent(
        id=EventId(uuid.UUID(doc["id"])),
        type=EventType(doc["type"]),
        tenant_id=TenantId(doc["tenantid"]),
        aggregate_id=uuid.UUID(doc["subject"]),
        occurred_at=datetime.fromisoformat(doc["time"]),
        data=doc["data"],
        traceparent=doc.get("traceparent"),
    )

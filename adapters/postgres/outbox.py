"""The transactional outbox on PostgreSQL: events appended with their transaction, read
and marked by the relay."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from adapters import jsonfast
from adapters.nats.cloudevents import decode, encode
from adapters.postgres.queries import sql
from domain.events import DomainEvent, EventType, traced
from domain.ids import EventId, TenantId
from domain.partitions import event_key
from domain.ports import EncodedEvent, OutboxRecord


class PgOutbox:
    def __init__(self, conn: asyncpg.Connection, tenant_id: TenantId | None) -> None:
        self._conn = conn
        self._tenant = tenant_id

    async def count(self) -> int:
        return int(await self._conn.fetchval(sql("outbox_count")))

    async def append(self, events: Sequence[DomainEvent], *, traceparent: str | None) -> None:
        if not events:
            return
        events = traced(events, traceparent)
        for event in events:
            if self._tenant is not None and event.tenant_id != self._tenant:
                raise ValueError(f"event {event.id} belongs to tenant {event.tenant_id}")
        await self._conn.execute(
            sql("append_outbox"),
            [event.tenant_id for event in events],
            [event.id for event in events],
            [event.aggregate_id for event in events],
            [event.type.value for event in events],
            [event.subject for event in events],
            [encode(event) for event in events],
            [event.occurred_at for event in events],
            [event_key(event) for event in events],
        )

    async def pending(
        self, limit: int, partitions: Sequence[int] | None = None
    ) -> list[OutboxRecord]:
        return await _pending(self._conn, limit, partitions)

    async def pending_encoded(
        self, limit: int, partitions: Sequence[int] | None = None
    ) -> list[EncodedEvent]:
        rows = await self._conn.fetch(
            sql("outbox_pending_wire"), limit, None if partitions is None else list(partitions)
        )
        return [_encoded(row) for row in rows]

    async def mark_published(self, seqs: Sequence[int]) -> None:
        if seqs:
            await self._conn.execute(sql("outbox_mark"), list(seqs))


async def _pending(
    conn: asyncpg.Connection, limit: int, partitions: Sequence[int] | None = None
) -> list[OutboxRecord]:
    chosen = None if partitions is None else list(partitions)
    rows = await conn.fetch(sql("outbox_pending"), limit, chosen)
    return [OutboxRecord(seq=row["seq"], event=_event_from_row(row)) for row in rows]


def _encoded(row: asyncpg.Record) -> EncodedEvent:
    body = row["cloudevent"]
    traceparent = None
    if body is None:  # written before the outbox kept the encoded form
        event = _event_from_row(row)
        body, traceparent = encode(event), event.traceparent
    elif b'"traceparent"' in body:  # only traced changes carry one: decode those alone
        traceparent = jsonfast.loads(body).get("traceparent")
    return EncodedEvent(
        seq=row["seq"],
        id=EventId(row["event_id"]),
        type=row["type"],
        subject=row["subject"],
        body=bytes(body),
        traceparent=traceparent,
    )


def _event_from_row(row: asyncpg.Record) -> DomainEvent:
    if row.get("cloudevent") is not None:
        return decode(bytes(row["cloudevent"]))
    body = row["payload"]  # a row older than the cloudevent column
    return DomainEvent(
        id=EventId(row["event_id"]),
        type=EventType(row["type"]),
        tenant_id=TenantId(row["tenant_id"]),
        aggregate_id=row["aggregate_id"],
        occurred_at=datetime.fromisoformat(body["occurred_at"]),
        data=body["data"],
        traceparent=body.get("traceparent"),
    )

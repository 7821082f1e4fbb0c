"""Outbox relay logic with the memory database and a publisher that can fail."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from adapters.memory.database import MemoryDatabase
from adapters.memory.publisher import RecordingPublisher
from domain.events import DomainEvent, EventType
from domain.ids import TenantId
from service.loops.relay import relay_once
from tests.builders import leading

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ACME = TenantId("acme")


def events(n: int) -> list[DomainEvent]:
    aggregate = uuid.uuid4()
    return [
        DomainEvent.of(
            EventType.RUN_STARTED,
            tenant_id=ACME,
            aggregate_id=aggregate,
            revision=i,
            occurred_at=T0,
        )
        for i in range(n)
    ]


async def commit(db: MemoryDatabase, batch: list[DomainEvent]) -> None:
    async with db.transaction(ACME) as tx:
        await tx.outbox.append(batch, traceparent=None)


async def test_relay_publishes_each_event_once_in_commit_order() -> None:
    """Two relay passes publish everything once; a third finds nothing."""
    db, publisher = MemoryDatabase(), RecordingPublisher()
    fence = await leading(db)
    first, second = events(3), events(2)
    await commit(db, first)
    await commit(db, second)
    assert await relay_once(db, publisher, fence=fence, limit=4) == 4
    assert await relay_once(db, publisher, fence=fence, limit=4) == 1
    assert await relay_once(db, publisher, fence=fence) == 0
    assert [e.id for e in publisher.stream] == [e.id for e in first + second]


async def test_outage_delays_events_and_loses_none() -> None:
    """Down after 2 acks: the rest stays pending and goes out, in order, once back up."""
    db, publisher = MemoryDatabase(), RecordingPublisher()
    fence = await leading(db)
    batch = events(5)
    await commit(db, batch)
    publisher.accept = 2
    with pytest.raises(ConnectionError, match="2 of 5"):
        await relay_once(db, publisher, fence=fence)
    publisher.accept = 0
    with pytest.raises(ConnectionError):
        await relay_once(db, publisher, fence=fence)
    publisher.accept = None
    assert await relay_once(db, publisher, fence=fence) == 3
    assert [e.id for e in publisher.stream] == [e.id for e in batch]

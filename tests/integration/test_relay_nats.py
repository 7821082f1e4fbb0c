"""The outbox relay against real PostgreSQL and a real nats-server, including an outage."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import nats
import pytest
from nats.js.api import RawStreamMsg

from adapters.embedded.nats import EmbeddedNats
from adapters.nats.cloudevents import encode
from adapters.nats.publisher import STREAM, JetStreamPublisher
from adapters.postgres.database import PostgresDatabase, create_pool
from domain.events import DomainEvent, EventType
from domain.ids import TenantId
from service.loops.relay import relay_once
from tests.builders import leading
from tests.servers import app_dsn

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ACME = TenantId("acme")


def events(n: int, start: int = 0) -> list[DomainEvent]:
    aggregate = uuid.uuid4()
    return [
        DomainEvent.of(
            EventType.SCHEDULE_UPDATED,
            tenant_id=ACME,
            aggregate_id=aggregate,
            revision=start + i,
            occurred_at=T0,
            data={"n": start + i},
        )
        for i in range(n)
    ]


@pytest.fixture
async def databases(database: str) -> AsyncIterator[tuple[PostgresDatabase, PostgresDatabase]]:
    app = await create_pool(app_dsn(database), max_size=2)
    scheduler = await create_pool(app_dsn(database, "kairos_scheduler"), max_size=2)
    try:
        yield PostgresDatabase(app), PostgresDatabase(scheduler)
    finally:
        await app.close()
        await scheduler.close()


async def stream_messages(url: str) -> list[RawStreamMsg]:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(STREAM)
        out = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            out.append(await js.get_msg(STREAM, seq))
        return out
    finally:
        await nc.close()


async def test_events_reach_the_stream_once_as_cloudevents(
    databases: tuple[PostgresDatabase, PostgresDatabase], nats_server: EmbeddedNats
) -> None:
    """Subject = type.tenant, Nats-Msg-Id = event id, CloudEvents body, exactly once."""
    app, scheduler = databases
    fence = await leading(scheduler)
    nc = await nats.connect(nats_server.url)
    publisher = JetStreamPublisher(nc)
    await publisher.ensure_stream()
    js = nc.jetstream()
    await js.purge_stream(STREAM)
    batch = events(3)
    try:
        async with app.transaction(ACME) as tx:
            await tx.outbox.append(batch, traceparent=None)
        assert await relay_once(scheduler, publisher, fence=fence) == 3
        assert await relay_once(scheduler, publisher, fence=fence) == 0
        # a replay of already-published events (crash between ack and mark) is deduped
        assert await publisher.publish_many(batch) == 3
    finally:
        await nc.drain()
    messages = await stream_messages(nats_server.url)
    assert [m.subject for m in messages] == ["scheduler.schedule.updated.acme"] * 3
    assert [(m.headers or {})["Nats-Msg-Id"] for m in messages] == [str(e.id) for e in batch]
    body = json.loads(messages[0].data or b"")
    assert {k: body[k] for k in ("specversion", "type", "tenantid", "id")} == {
        "specversion": "1.0",
        "type": "scheduler.schedule.updated",
        "tenantid": "acme",
        "id": str(batch[0].id),
    }
    assert body["data"] == {"n": 0}


async def test_nats_outage_delays_events_and_loses_none(
    databases: tuple[PostgresDatabase, PostgresDatabase], tmp_path: Path
) -> None:
    """NATS stopped, events committed meanwhile, NATS back: every event once, in order."""
    app, scheduler = databases
    fence = await leading(scheduler)
    server = EmbeddedNats(tmp_path / "nats")
    server.start()
    nc = await nats.connect(server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    try:
        publisher = JetStreamPublisher(nc, ack_timeout=1.0)
        await publisher.ensure_stream()
        before = events(2)
        async with app.transaction(ACME) as tx:
            await tx.outbox.append(before, traceparent=None)
        assert await relay_once(scheduler, publisher, fence=fence) == 2
        server.stop()
        during = events(4, start=2)
        async with app.transaction(ACME) as tx:
            await tx.outbox.append(during, traceparent=None)
        with pytest.raises(ConnectionError):
            await relay_once(scheduler, publisher, fence=fence)
        restarted = EmbeddedNats(tmp_path / "nats", port=server.port)
        restarted.start()
        try:
            published = 0
            for _ in range(100):  # bounded: the client reconnects within a few tries
                try:
                    published += await relay_once(scheduler, publisher, fence=fence)
                except ConnectionError:
                    await asyncio.sleep(0.1)
                    continue
                if published >= len(during):
                    break
            messages = await stream_messages(restarted.url)
        finally:
            restarted.stop()
    finally:
        await nc.close()
    ids = [(m.headers or {})["Nats-Msg-Id"] for m in messages]
    assert ids == [str(e.id) for e in before + during]


async def test_rows_written_before_the_outbox_kept_cloudevents_are_relayed_the_same(
    databases: tuple[PostgresDatabase, PostgresDatabase], nats_server: EmbeddedNats, database: str
) -> None:
    """A row in the older shape (payload only, no CloudEvent: written before migration
    0027, still unrelayed at the upgrade) reaches the stream as the same CloudEvent a new
    row does, traceparent header included, in commit order with the new ones."""
    app, scheduler = databases
    fence = await leading(scheduler)
    old, new = events(1, start=0), events(1, start=1)
    old = [replace(old[0], traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01")]
    owner = await asyncpg.connect(database)
    try:
        await owner.execute(
            "INSERT INTO outbox (tenant_id, event_id, aggregate_id, type, subject, payload) "
            "VALUES ($1, $2, $3, $4, $5, $6::jsonb)",
            ACME,
            old[0].id,
            old[0].aggregate_id,
            old[0].type.value,
            old[0].subject,
            json.dumps(
                {
                    "occurred_at": old[0].occurred_at.isoformat(),
                    "data": dict(old[0].data),
                    "traceparent": old[0].traceparent,
                }
            ),
        )
    finally:
        await owner.close()
    async with app.transaction(ACME) as tx:
        await tx.outbox.append(new, traceparent=None)
    nc = await nats.connect(nats_server.url)
    try:
        publisher = JetStreamPublisher(nc)
        await publisher.ensure_stream()
        await nc.jetstream().purge_stream(STREAM)
        assert await relay_once(scheduler, publisher, fence=fence) == 2
    finally:
        await nc.drain()
    messages = await stream_messages(nats_server.url)
    assert [m.data for m in messages] == [encode(old[0]), encode(new[0])]
    assert (messages[0].headers or {})["traceparent"] == old[0].traceparent
    assert "traceparent" not in (messages[1].headers or {})

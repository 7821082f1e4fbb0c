"""Event-triggered schedules on real servers: one run per distinct message, including
messages published while Kairos was stopped."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import nats
from nats.aio.client import Client as NatsClient

from adapters.embedded.nats import EmbeddedNats
from adapters.nats.event_consumer import EventTriggerConsumer
from adapters.postgres.database import PostgresDatabase, create_pool
from domain.ids import ScheduleId, TenantId
from domain.ports import RunFilter
from domain.run import Run, RunOrigin, RunStatus
from domain.schedule import OverlapPolicy
from domain.timing import Timing
from domain.triggers import EventTrigger
from service.usecases.commands import CreateSchedule
from service.usecases.schedules import create_schedule
from tests.builders import add_event_job
from tests.servers import app_dsn

ACME = TenantId("acme")


async def _consume(db: PostgresDatabase, nc: NatsClient, seconds: float) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(EventTriggerConsumer(nc, db).run(stop))
    await asyncio.sleep(seconds)  # integration: real servers, real time
    stop.set()
    await task


async def test_each_distinct_message_fires_once_even_while_kairos_is_stopped(
    database: str, nats_server: EmbeddedNats
) -> None:
    """A consumer run creates the stream; with Kairos stopped, three messages arrive
    (one of them twice, same Nats-Msg-Id) plus one on another subject; started again,
    the schedule has exactly three event runs carrying the message; a later message
    makes a fourth; a debounced schedule fires once for the burst."""
    pool = await create_pool(app_dsn(database, "kairos_scheduler"))
    db = PostgresDatabase(pool)
    nc = await nats.connect(nats_server.url)
    try:
        job = await add_event_job(db, ACME, "on-order")
        orders = await create_schedule(
            db,
            CreateSchedule(
                tenant_id=ACME,
                name="orders",
                job_id=job.id,
                timing=Timing(trigger=EventTrigger(subject="orders.*")),
                overlap_policy=OverlapPolicy.ALLOW,
            ),
        )
        calm = await create_schedule(
            db,
            CreateSchedule(
                tenant_id=ACME,
                name="calm",
                job_id=job.id,
                timing=Timing(
                    trigger=EventTrigger(subject="orders.created", debounce=timedelta(minutes=5))
                ),
                overlap_policy=OverlapPolicy.ALLOW,
            ),
        )
        await _consume(db, nc, 0.5)  # first start: stream and durable consumer exist
        js = nc.jetstream()
        await js.publish("t.acme.orders.created", b'{"order": 1}', headers={"Nats-Msg-Id": "o1"})
        await js.publish("t.acme.orders.created", b'{"order": 1}', headers={"Nats-Msg-Id": "o1"})
        await js.publish("t.acme.orders.created", b'{"order": 2}')
        await js.publish("t.acme.orders.paid", b'{"order": 1}')
        await js.publish("t.acme.invoices.sent", b"{}")  # no schedule listens
        await _consume(db, nc, 1.5)

        async def runs_of(schedule_id: ScheduleId) -> list[Run]:
            async with db.transaction(ACME) as tx:
                found = await tx.runs.list(
                    RunFilter(schedule_id=schedule_id),
                    after=None,
                    limit=50,
                )
            return sorted(found, key=lambda r: r.nominal_at)

        fired = await runs_of(orders.id)
        assert len(fired) == 3
        assert {r.origin for r in fired} == {RunOrigin.EVENT}
        assert [r.payload["event"]["subject"] for r in fired] == [
            "orders.created",
            "orders.created",
            "orders.paid",
        ]
        assert fired[0].payload["event"]["data"] == {"order": 1}
        calm_runs = await runs_of(calm.id)
        assert [(r.status, r.reason) for r in calm_runs] == [
            (RunStatus.PENDING, None),
            (RunStatus.SKIPPED, "debounced"),
        ]
        await js.publish("t.acme.orders.created", b'{"order": 3}')
        await _consume(db, nc, 1.5)
        assert len(await runs_of(orders.id)) == 4
    finally:
        await nc.drain()
        await pool.close()

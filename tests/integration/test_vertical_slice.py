"""The durable path end to end on real servers: a schedule fires, its run is claimed and
published to the tenant's subject, and its events reach the stream exactly once."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import nats
from nats.aio.msg import Msg

from adapters.clock import SystemClock
from adapters.embedded.nats import EmbeddedNats
from adapters.nats.event_target import EventTarget
from adapters.nats.publisher import STREAM, JetStreamPublisher
from adapters.postgres.database import PostgresDatabase, create_pool
from domain.ids import JobId, TenantId, new_id
from domain.job import Job, Target, TargetKind
from domain.run import RunStatus
from domain.timing import Timing
from domain.triggers import OneShotTrigger
from service.loops.leadership import acquire_all
from service.loops.materialiser import materialise_due
from service.loops.relay import relay_once
from service.loops.worker_pool import WorkerPool
from service.usecases.commands import CreateSchedule
from service.usecases.schedules import create_schedule
from tests.servers import app_dsn

ACME = TenantId("acme")


async def test_schedule_fires_runs_publishes_and_emits_events(
    database: str, nats_server: EmbeddedNats
) -> None:
    """One-shot due now -> run -> message on t.acme.reports with run headers -> succeeded,
    with scheduler.run.started/succeeded on the stream once each."""
    app_pool = await create_pool(app_dsn(database))
    system_pool = await create_pool(app_dsn(database, "kairos_scheduler"))
    nc = await nats.connect(nats_server.url)
    try:
        app, system = PostgresDatabase(app_pool), PostgresDatabase(system_pool)
        publisher = JetStreamPublisher(nc)
        await publisher.ensure_stream()
        await nc.jetstream().purge_stream(STREAM)
        received: asyncio.Queue[Msg] = asyncio.Queue()

        async def on_message(msg: Msg) -> None:
            await received.put(msg)

        await nc.subscribe("t.acme.>", cb=on_message)
        job = Job(
            id=JobId(new_id()),
            tenant_id=ACME,
            name="reports",
            target=Target(kind=TargetKind.EVENT, config={"subject": "reports"}),
            created_at=SystemClock().now(),
            updated_at=SystemClock().now(),
        )
        async with app.transaction(ACME) as tx:
            await tx.jobs.add(job)
            now = await tx.now()
        schedule = await create_schedule(
            app,
            CreateSchedule(
                tenant_id=ACME,
                name="once",
                job_id=job.id,
                timing=Timing(trigger=OneShotTrigger.parse(now.isoformat())),
                payload={"report": "daily"},
            ),
        )
        async with system.system() as tx:
            epoch = await acquire_all(tx.leader, "replica-1", timedelta(seconds=30))
        assert epoch is not None
        made = await materialise_due(system, fence=epoch)
        assert (made.runs, made.completed) == (1, 1)
        pool = WorkerPool(system, {TargetKind.EVENT: EventTarget(nc)}, SystemClock())
        assert await pool.process() == 1
        msg = await asyncio.wait_for(received.get(), 5)
        body = json.loads(msg.data)
        assert msg.subject == "t.acme.reports"
        assert body["payload"] == {"report": "daily"}
        headers = msg.headers or {}
        assert headers["Nats-Msg-Id"] == headers["Kairos-Run-Id"] == body["run_id"]
        assert headers["Kairos-Schedule-Id"] == str(schedule.id)
        assert headers["Kairos-Attempt"] == "1"
        async with app.transaction(ACME) as tx:
            run = await tx.runs.get(json.loads(msg.data)["run_id"])
        assert run.status is RunStatus.SUCCEEDED
        while await relay_once(system, publisher, fence=epoch):
            pass
        js = nc.jetstream()
        info = await js.stream_info(STREAM)
        subjects = [
            (await js.get_msg(STREAM, seq)).subject
            for seq in range(info.state.first_seq, info.state.last_seq + 1)
        ]
        assert subjects == [
            "scheduler.schedule.created.acme",
            "scheduler.schedule.created.acme",  # the tenant's system.retention schedule
            "scheduler.schedule.completed.acme",
            "scheduler.run.started.acme",
            "scheduler.run.succeeded.acme",
        ]
    finally:
        await nc.drain()
        await app_pool.close()
        await system_pool.close()

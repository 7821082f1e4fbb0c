"""The scheduler process on real servers: fires on time, two replicas fire once."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import asyncpg
import nats

from adapters.clock import SystemClock
from adapters.embedded.nats import EmbeddedNats
from adapters.nats.event_target import EventTarget
from adapters.nats.publisher import STREAM, JetStreamPublisher
from adapters.postgres.database import PostgresDatabase, create_pool
from adapters.postgres.notifications import PostgresChangeFeed
from domain.ids import JobId, TenantId, new_id
from domain.job import Job, Target, TargetKind
from domain.timing import Timing
from domain.triggers import CronTrigger
from service.loops.scheduler import Scheduler, SchedulerSettings
from service.usecases.commands import CreateSchedule
from service.usecases.schedules import create_schedule
from tests.servers import app_dsn

ACME = TenantId("acme")


async def test_two_replicas_fire_each_second_once_and_events_arrive(
    database: str, nats_server: EmbeddedNats
) -> None:
    """`* * * * * *` for ~3 s under two replicas: one run per fire, all succeeded, and
    the stream holds started+succeeded once per run."""
    scheduler_dsn = app_dsn(database, "kairos_scheduler")
    pools = [await create_pool(scheduler_dsn) for _ in range(2)]
    app_pool = await create_pool(app_dsn(database))
    connections = [await nats.connect(nats_server.url) for _ in range(2)]
    try:
        app = PostgresDatabase(app_pool)
        await JetStreamPublisher(connections[0]).ensure_stream()
        await connections[0].jetstream().purge_stream(STREAM)
        now = SystemClock().now()
        job = Job(
            id=JobId(new_id()),
            tenant_id=ACME,
            name="tick",
            target=Target(kind=TargetKind.EVENT, config={"subject": "tick"}),
            created_at=now,
            updated_at=now,
        )
        async with app.transaction(ACME) as tx:
            await tx.jobs.add(job)
        stop = asyncio.Event()
        replicas = [
            Scheduler(
                PostgresDatabase(pool),
                JetStreamPublisher(nc),
                {TargetKind.EVENT: EventTarget(nc)},
                SystemClock(),
                SchedulerSettings(replica=f"r{i}", lease_ttl=timedelta(seconds=3)),
                changes=PostgresChangeFeed(scheduler_dsn),
            )
            for i, (pool, nc) in enumerate(zip(pools, connections, strict=True))
        ]
        readies = [asyncio.Event() for _ in replicas]
        tasks = [
            asyncio.create_task(r.run(stop, ready))
            for r, ready in zip(replicas, readies, strict=True)
        ]
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 10)
        schedule = await create_schedule(
            app,
            CreateSchedule(
                tenant_id=ACME,
                name="every-second",
                job_id=job.id,
                timing=Timing(trigger=CronTrigger.parse("* * * * * *")),
            ),
        )
        await asyncio.sleep(3.2)  # integration: real servers, real time
        await _pause(app, schedule.id)
        await asyncio.sleep(1.5)  # let the last runs finish and relay
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 15)
        assert sum(r.leader for r in replicas) <= 1
        owner = await asyncpg.connect(database)
        try:
            rows = await owner.fetch(
                "SELECT nominal_at, status FROM runs WHERE schedule_id = $1", schedule.id
            )
        finally:
            await owner.close()
        per_key = Counter(r["nominal_at"] for r in rows)
        assert len(rows) >= 2
        assert set(per_key.values()) == {1}
        assert {r["status"] for r in rows} == {"succeeded"}
        js = connections[0].jetstream()
        info = await js.stream_info(STREAM)
        subjects = Counter(
            [
                (await js.get_msg(STREAM, seq)).subject
                for seq in range(info.state.first_seq, info.state.last_seq + 1)
            ]
        )
        # EVENT fires with nothing in their way go the instant path: one run.succeeded
        # each, no run.started (docs/semantics.md, *Instant delivery*).
        assert subjects["scheduler.run.started.acme"] == 0
        assert subjects["scheduler.run.succeeded.acme"] == len(rows)
    finally:
        for nc in connections:
            await nc.close()
        for pool in pools:
            await pool.close()
        await app_pool.close()


async def _pause(db: PostgresDatabase, schedule_id: object) -> None:
    async with db.transaction(ACME) as tx:
        schedule = await tx.schedules.get(schedule_id)  # type: ignore[arg-type]
        paused, events = schedule.pause(now=await tx.now())
        await tx.schedules.save(paused, expected_version=schedule.version)
        await tx.outbox.append(events, traceparent=None)

"""Overlap on real servers with a slow target: ``replace`` stops the running attempt in
the worker, ``skip`` records the fires that come while a run is still going."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import nats

from adapters.clock import SystemClock
from adapters.embedded.nats import EmbeddedNats
from adapters.nats.publisher import JetStreamPublisher
from adapters.postgres.database import PostgresDatabase, create_pool
from adapters.postgres.notifications import PostgresChangeFeed
from domain.ids import TenantId
from domain.job import Job, TargetKind
from domain.run import Run
from domain.schedule import OverlapPolicy
from domain.timing import Timing
from domain.triggers import CronTrigger
from service.loops.scheduler import Scheduler, SchedulerSettings
from service.usecases.commands import CreateSchedule
from service.usecases.schedules import create_schedule
from tests.builders import add_event_job
from tests.servers import app_dsn

ACME = TenantId("acme")


class SlowTarget:
    """Takes 2.5 s per run; counts the attempts it was told to stop."""

    def __init__(self) -> None:
        self.stopped: list[str] = []

    async def execute(self, run: Run, job: Job) -> None:
        try:
            await asyncio.sleep(2.5)  # integration: a slow receiver, real time
        except asyncio.CancelledError:
            self.stopped.append(str(run.id))
            raise


async def test_replace_stops_the_running_attempt_and_skip_records_overlaps(
    database: str, nats_server: EmbeddedNats
) -> None:
    """Every-second fires for 3.5 s against a 2.5 s target."""
    dsn = app_dsn(database, "kairos_scheduler")
    pool = await create_pool(dsn)
    app = PostgresDatabase(await create_pool(app_dsn(database)))
    nc = await nats.connect(nats_server.url)
    target = SlowTarget()
    try:
        await JetStreamPublisher(nc).ensure_stream()
        job = await add_event_job(app, ACME, "slow", timeout=timedelta(minutes=1))
        ids = {}
        for policy in (OverlapPolicy.REPLACE, OverlapPolicy.SKIP):
            schedule = await create_schedule(
                app,
                CreateSchedule(
                    tenant_id=ACME,
                    name=policy.value,
                    job_id=job.id,
                    timing=Timing(trigger=CronTrigger.parse("* * * * * *")),
                    overlap_policy=policy,
                ),
            )
            ids[policy] = schedule.id
        scheduler = Scheduler(
            PostgresDatabase(pool),
            JetStreamPublisher(nc),
            {TargetKind.EVENT: target},
            SystemClock(),
            SchedulerSettings(worker_heartbeat=timedelta(milliseconds=200)),
            changes=PostgresChangeFeed(dsn),
        )
        stop, ready = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(scheduler.run(stop, ready))
        await asyncio.wait_for(ready.wait(), 10)
        await asyncio.sleep(3.5)  # integration: real servers, real time
        for schedule_id in ids.values():
            async with app.transaction(ACME) as tx:
                current = await tx.schedules.get(schedule_id)
                paused, events = current.pause(now=await tx.now())
                await tx.schedules.save(paused, expected_version=current.version)
                await tx.outbox.append(events, traceparent=None)
        await asyncio.sleep(3.0)  # the last runs end
        stop.set()
        await task
        owner = await asyncpg.connect(database)
        try:
            rows = {
                policy: await owner.fetch(
                    "SELECT id::text, status, reason FROM runs WHERE schedule_id = $1 "
                    "ORDER BY nominal_at",
                    schedule_id,
                )
                for policy, schedule_id in ids.items()
            }
        finally:
            await owner.close()
    finally:
        await nc.drain()
        await pool.close()
    replaced = [r for r in rows[OverlapPolicy.REPLACE] if r["status"] == "cancelled"]
    assert len(replaced) >= 2
    assert all(r["reason"].startswith("replaced by the fire of") for r in replaced)
    # The worker observed it: attempts it was running were stopped, not left to finish.
    assert {r["id"] for r in replaced} & set(target.stopped)
    assert rows[OverlapPolicy.REPLACE][-1]["status"] == "succeeded"
    skipped = [r for r in rows[OverlapPolicy.SKIP] if r["status"] == "skipped"]
    assert len(skipped) >= 2
    assert {r["reason"] for r in skipped} == {"overlap"}
    ran = [r["status"] for r in rows[OverlapPolicy.SKIP] if r["status"] != "skipped"]
    assert ran[0] == "succeeded"  # the first fire ran to the end; the ones meeting it skipped

"""Missed fires on real servers: every replica stops across several due fires of
every-second schedules, a replica starts again, and each policy's records account for
exactly the fires the rule defines (docs/semantics.md, *Misfires*)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import asyncpg
import nats

from adapters.clock import SystemClock
from adapters.embedded.nats import EmbeddedNats
from adapters.nats.event_target import EventTarget
from adapters.nats.publisher import JetStreamPublisher
from adapters.postgres.database import PostgresDatabase, create_pool
from adapters.postgres.notifications import PostgresChangeFeed
from domain.ids import TenantId
from domain.job import TargetKind
from domain.schedule import MisfirePolicy, OverlapPolicy, Schedule
from domain.timing import Timing
from domain.triggers import CronTrigger
from service.loops.scheduler import Scheduler, SchedulerSettings
from service.usecases.commands import CreateSchedule
from service.usecases.schedules import create_schedule
from tests.builders import add_event_job
from tests.servers import app_dsn

ACME = TenantId("acme")
SECOND = timedelta(seconds=1)


async def _replica(db: PostgresDatabase, nc: Any, dsn: str, seconds: float) -> None:
    """One scheduler replica (always the same name: a restart) for ``seconds``."""
    app = Scheduler(
        db,
        JetStreamPublisher(nc),
        {TargetKind.EVENT: EventTarget(nc)},
        SystemClock(),
        SchedulerSettings(replica="only", misfire_threshold=timedelta(milliseconds=500)),
        changes=PostgresChangeFeed(dsn),
    )
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(app.run(stop, ready))
    await asyncio.wait_for(ready.wait(), 10)
    await asyncio.sleep(seconds)  # integration: real servers, real time
    stop.set()
    await task


async def test_after_a_full_outage_each_policy_accounts_for_every_fire(
    database: str, nats_server: EmbeddedNats
) -> None:
    """Up 1.5 s, down 3.5 s, up 2 s: per schedule, runs + missed records + summary
    counts cover each second from the first fire to the last exactly once; run_all
    misses nothing, skip misses every late fire, run_once one fewer than skip."""
    dsn = app_dsn(database, "kairos_scheduler")
    pool = await create_pool(dsn)
    app = PostgresDatabase(await create_pool(app_dsn(database)))
    nc = await nats.connect(nats_server.url)
    try:
        await JetStreamPublisher(nc).ensure_stream()
        job = await add_event_job(app, ACME, "tick")
        variants: dict[str, dict[str, Any]] = {  # overlap allow: misfires alone
            "run_all": {"misfire_policy": MisfirePolicy.RUN_ALL},
            "run_once": {"misfire_policy": MisfirePolicy.RUN_ONCE},
            "skip": {"misfire_policy": MisfirePolicy.SKIP},
            "skip_summarised": {"misfire_policy": MisfirePolicy.SKIP, "max_catchup": 1},
        }
        schedules: dict[str, Schedule] = {}
        for name, policies in variants.items():
            schedules[name] = await create_schedule(
                app,
                CreateSchedule(
                    tenant_id=ACME,
                    name=name,
                    job_id=job.id,
                    timing=Timing(trigger=CronTrigger.parse("* * * * * *")),
                    overlap_policy=OverlapPolicy.ALLOW,
                    **policies,
                ),
            )
        system = PostgresDatabase(pool)
        await _replica(system, nc, dsn, 1.5)
        await asyncio.sleep(3.5)  # every replica is down
        await _replica(system, nc, dsn, 2.0)
        owner = await asyncpg.connect(database)
        try:
            rows = {
                name: await owner.fetch(
                    "SELECT nominal_at, status, missed_count FROM runs WHERE schedule_id = $1 "
                    "ORDER BY nominal_at",
                    schedule.id,
                )
                for name, schedule in schedules.items()
            }
        finally:
            await owner.close()
    finally:
        await nc.drain()
        await pool.close()
    missed: dict[str, int] = {}
    for name, records in rows.items():
        covered = []
        for row in records:
            count = row["missed_count"] or 1
            covered += [row["nominal_at"] - k * SECOND for k in reversed(range(count))]
        first, last = covered[0], covered[-1]
        every_second = [first + k * SECOND for k in range(int((last - first) / SECOND) + 1)]
        assert covered == every_second, name  # each fire exactly once, no gap
        missed[name] = sum(r["missed_count"] or 1 for r in records if r["status"] == "missed")
    assert missed["run_all"] == 0
    assert missed["skip"] >= 2
    assert missed["run_once"] == missed["skip"] - 1
    assert missed["skip_summarised"] == missed["skip"]
    summaries = [r for r in rows["skip_summarised"] if r["missed_count"]]
    assert len(summaries) == 1
    assert summaries[0]["missed_count"] == missed["skip"] - 1

"""A bad row never stops the service (real PostgreSQL and nats-server): rows planted in
SQL around the API - a job whose max_concurrency overflows an integer (it once crashed
every claim), a schedule whose stored document no longer decodes, a schedule whose job
cannot be read, a run with an unknown priority - are each handled or taken out of the
way with a reason a user can see, while another tenant's schedule keeps firing and
every loop stays up."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import asyncpg
import nats

from adapters.clock import SystemClock
from adapters.embedded.nats import EmbeddedNats
from adapters.nats.event_target import EventTarget
from adapters.nats.publisher import JetStreamPublisher
from adapters.postgres.database import PostgresDatabase, create_pool
from adapters.postgres.notifications import PostgresChangeFeed
from domain.ids import ScheduleId, TenantId
from domain.job import Job, TargetKind
from domain.schedule import Schedule
from domain.timing import Timing
from domain.triggers import CronTrigger
from service.loops.scheduler import Scheduler, SchedulerSettings
from service.usecases.commands import CreateSchedule, TriggerSchedule
from service.usecases.manual_triggers import trigger_schedule
from service.usecases.schedules import create_schedule
from tests.builders import add_event_job
from tests.servers import app_dsn

ACME, GLOBEX = TenantId("acme"), TenantId("globex")


async def _job(db: PostgresDatabase, tenant: TenantId, name: str) -> Job:
    return await add_event_job(db, tenant, name)


async def _every_second(db: PostgresDatabase, tenant: TenantId, job: Job, name: str) -> Schedule:
    return await create_schedule(
        db,
        CreateSchedule(
            tenant_id=tenant,
            name=name,
            job_id=job.id,
            timing=Timing(trigger=CronTrigger.parse("* * * * * *")),
        ),
    )


async def test_poisoned_rows_are_set_aside_and_everyone_else_keeps_firing(
    database: str, nats_server: EmbeddedNats
) -> None:
    """Four kinds of poisoned rows of globex: each ends paused or dead with a reason and
    an event; acme's every-second schedule fires throughout; the scheduler's loops
    never end."""
    scheduler_dsn = app_dsn(database, "kairos_scheduler")
    pool = await create_pool(scheduler_dsn)
    app_pool = await create_pool(app_dsn(database))
    nc = await nats.connect(nats_server.url)
    owner = await asyncpg.connect(database)
    try:
        app = PostgresDatabase(app_pool)
        await JetStreamPublisher(nc).ensure_stream()
        healthy = await _every_second(app, ACME, await _job(app, ACME, "healthy"), "healthy")

        overflow_job = await _job(app, GLOBEX, "overflow")
        on_overflow = await _every_second(app, GLOBEX, overflow_job, "on-overflow")
        bogus_job = await _job(app, GLOBEX, "bogus")
        on_bogus = await _every_second(app, GLOBEX, bogus_job, "on-bogus")
        pending = (
            await trigger_schedule(app, TriggerSchedule(tenant_id=GLOBEX, schedule_id=on_bogus.id))
        ).run
        undecodable = await _every_second(
            app, GLOBEX, await _job(app, GLOBEX, "other"), "undecodable"
        )
        odd_run = (
            await trigger_schedule(
                app, TriggerSchedule(tenant_id=GLOBEX, schedule_id=undecodable.id)
            )
        ).run
        # Around the API, as an old version, a hand-written UPDATE or a bug might.
        await owner.execute(
            "UPDATE jobs SET spec = jsonb_set(spec, '{max_concurrency}', '2147483648') "
            "WHERE id = $1",
            overflow_job.id,
        )
        await owner.execute(
            "UPDATE jobs SET spec = jsonb_set(spec, '{target,kind}', '\"BOGUS\"') WHERE id = $1",
            bogus_job.id,
        )
        await owner.execute(
            "UPDATE schedules SET spec = jsonb_set(spec, '{timing,trigger,expression}', "
            "'\"99 99 * * *\"') WHERE id = $1",
            undecodable.id,
        )
        await owner.execute("UPDATE runs SET priority = 99 WHERE id = $1", odd_run.id)

        scheduler = Scheduler(
            PostgresDatabase(pool),
            JetStreamPublisher(nc),
            {TargetKind.EVENT: EventTarget(nc)},
            SystemClock(),
            SchedulerSettings(replica="r1", lease_ttl=timedelta(seconds=3)),
            changes=PostgresChangeFeed(scheduler_dsn),
        )
        stop, ready = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(scheduler.run(stop, ready))
        await asyncio.wait_for(ready.wait(), 10)
        await asyncio.sleep(4)  # integration: real servers, real time
        assert not task.done(), task.exception() if task.done() else None
        stop.set()
        await asyncio.wait_for(task, 15)

        async def status_of(schedule: ScheduleId) -> tuple[str, str | None]:
            row = await owner.fetchrow(
                "SELECT state, spec->>'state_reason' AS reason FROM schedules WHERE id = $1",
                schedule,
            )
            assert row is not None
            return row["state"], row["reason"]

        state, reason = await status_of(undecodable.id)
        assert state == "paused"
        assert str(reason).startswith("UNREADABLE"), reason
        state, reason = await status_of(on_bogus.id)
        assert state == "paused"
        assert str(reason).startswith("PLANNING_FAILED"), reason
        assert "BOGUS" in str(reason)
        # A huge max_concurrency is only a high cap: its schedule fires, its runs deliver.
        assert await status_of(on_overflow.id) == ("enabled", None)
        delivered = await owner.fetchval(
            "SELECT count(*) FROM runs WHERE schedule_id = $1 AND status = 'succeeded'",
            on_overflow.id,
        )
        assert delivered >= 2

        run = await owner.fetchrow("SELECT status, reason FROM runs WHERE id = $1", odd_run.id)
        assert run is not None
        assert run["status"] == "dead", dict(run)
        assert run["reason"].startswith("UNREADABLE"), dict(run)
        # The unreadable job's own run is claimed and ends, saying its job is gone.
        held = await owner.fetchrow("SELECT status, reason FROM runs WHERE id = $1", pending.id)
        assert held is not None
        assert (held["status"], held["reason"]) == ("dead", "the run's job no longer exists")

        fired = await owner.fetch(
            "SELECT status FROM runs WHERE schedule_id = $1 AND origin = 'schedule'",
            healthy.id,
        )
        assert len(fired) >= 2
        assert sum(r["status"] == "succeeded" for r in fired) >= 2

        # The events say why: relayed to the stream by now, or still in the outbox.
        outbox = await owner.fetch("SELECT cloudevent FROM outbox WHERE tenant_id = 'globex'")
        events = [json.loads(r["cloudevent"]) for r in outbox]
        sub = await nc.jetstream().subscribe("scheduler.*.*.globex", ordered_consumer=True)
        try:
            while True:
                events.append(json.loads((await sub.next_msg(timeout=1)).data))
        except nats.errors.TimeoutError:
            pass  # no more
        finally:
            await sub.unsubscribe()
        reasons = set()
        for event in events:
            data = event.get("data") or {}
            if str(data.get("reason") or "").startswith(("UNREADABLE", "PLANNING_FAILED")):
                reasons.add((event["type"], data.get("schedule_id") or data.get("run_id")))
        assert ("scheduler.schedule.disabled", str(undecodable.id)) in reasons, reasons
        assert ("scheduler.schedule.disabled", str(on_bogus.id)) in reasons, reasons
        assert ("scheduler.run.dead", str(odd_run.id)) in reasons, reasons
    finally:
        await owner.close()
        await nc.close()
        await pool.close()
        await app_pool.close()

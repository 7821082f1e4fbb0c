"""A scheduler restarted on new zone rules re-plans before it materialises (PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import UTC, timedelta
from pathlib import Path

import pytest

from adapters.clock import SystemClock
from adapters.memory.publisher import RecordingPublisher
from adapters.postgres.database import PostgresDatabase, create_pool
from domain.events import EventType
from domain.ids import TenantId
from domain.timing import Timing
from domain.triggers import CronTrigger
from domain.zones import zone_source
from service.cli import main as cli
from service.loops.scheduler import Scheduler, SchedulerSettings
from service.usecases.commands import CreateSchedule
from service.usecases.schedules import create_schedule
from tests.builders import add_event_job
from tests.servers import app_dsn
from tests.tzif import berlin_tree

ACME = TenantId("acme")


async def _run_replica(db: PostgresDatabase, publisher: RecordingPublisher) -> None:
    """One replica (same name each time: a restart) until its first passes are done."""
    app = Scheduler(
        db, publisher, {}, SystemClock(), SchedulerSettings(replica="only", worker_capacity=0)
    )
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(app.run(stop, ready))
    await asyncio.wait_for(ready.wait(), 10)
    for _ in range(100):  # integration: real servers; wait for leadership and a pass
        await asyncio.sleep(0.05)
        if app.leader and app._zone_rules_checked == app.epoch:
            break
    await asyncio.sleep(0.3)  # the relay's turn
    stop.set()
    await task


async def test_restart_on_new_rules_moves_the_stored_next_fire(
    database: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Planned under 2099a (Berlin +01), restarted under 2099b (+02 from a day before the
    fire): the stored next fire is an hour earlier, the change is announced, and
    `kairos tzdata` lists it."""
    publisher = RecordingPublisher()
    with zone_source(berlin_tree(tmp_path, "2099a", None)):
        pool = await create_pool(app_dsn(database, "kairos_scheduler"), max_size=4)
        db = PostgresDatabase(pool)
        try:
            job = await add_event_job(db, ACME, "noon")
            async with db.transaction(ACME) as tx:
                start = await tx.now() + timedelta(days=2)
            schedule = await create_schedule(
                db,
                CreateSchedule(
                    tenant_id=ACME,
                    name="noon",
                    job_id=job.id,
                    timing=Timing(
                        trigger=CronTrigger.parse("0 12 * * *"),
                        timezone="Europe/Berlin",
                        start_at=start,
                    ),
                ),
            )
            await _run_replica(db, publisher)
        finally:
            await pool.close()
    planned = schedule.next_fire_at
    assert planned is not None
    assert planned.astimezone(UTC).hour == 11
    new_rules = berlin_tree(tmp_path, "2099b", planned - timedelta(days=1))
    with zone_source(new_rules):
        pool = await create_pool(app_dsn(database, "kairos_scheduler"), max_size=4)
        db = PostgresDatabase(pool)
        try:
            await _run_replica(db, publisher)
            async with db.transaction(ACME) as tx:
                stored = await tx.schedules.get(schedule.id)
        finally:
            await pool.close()
    assert stored.next_fire_at == planned - timedelta(hours=1)
    updated = [e for e in publisher.stream if e.type is EventType.SCHEDULE_UPDATED]
    assert [(e.data["tzdata_from"], e.data["tzdata_to"]) for e in updated] == [("2099a", "2099b")]

    monkeypatch.setenv("KAIROS_ZONEINFO", str(new_rules.root))
    scheduler_dsn = app_dsn(database, "kairos_scheduler")
    with zone_source(new_rules):  # main() selects the source; the block restores ours
        assert await asyncio.to_thread(cli.main, ["tzdata", "--database-url", scheduler_dsn]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == [
        f"tzdata 2099b ({new_rules.root})",
        "deployment planned with 2099b",
        "re-planned by a change of zone rules (newest first):",
    ]
    assert f"acme  {schedule.id}  noon  Europe/Berlin  2099a -> 2099b  next " in out[3]

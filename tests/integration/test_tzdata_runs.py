"""Each run records the tzdata release whose zone rules planned it (PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

from adapters.postgres.database import PostgresDatabase, create_pool
from domain.ids import ScheduleId
from domain.ports import RunFilter
from domain.run import Run
from domain.schedule import Schedule
from domain.timing import Timing
from domain.triggers import CronTrigger
from domain.zones import zone_source
from service.loops.leadership import acquire_all
from service.loops.materialiser import materialise_due
from tests.builders import ACME, job
from tests.servers import app_dsn
from tests.tzif import berlin_tree as tree


async def test_materialised_runs_carry_the_planning_tzdata_version(
    database: str, tmp_path: Path
) -> None:
    """Runs inserted by a scheduler whose rules are tzdata 2099a say 2099a."""
    with zone_source(tree(tmp_path, "2099a", None)):
        app_pool = await create_pool(app_dsn(database), max_size=2)
        system_pool = await create_pool(app_dsn(database, "kairos_scheduler"), max_size=2)
        try:
            runs = await _materialise(PostgresDatabase(app_pool), PostgresDatabase(system_pool))
        finally:
            await app_pool.close()
            await system_pool.close()
    assert runs
    assert {r.tzdata_version for r in runs} == {"2099a"}


async def _materialise(app: PostgresDatabase, system: PostgresDatabase) -> list[Run]:
    j = job()
    async with app.transaction(ACME) as tx:
        await tx.jobs.add(j)
        now = await tx.now()
        schedule, _ = Schedule.create(
            now=now,
            id=ScheduleId(uuid.uuid4()),
            tenant_id=ACME,
            name="minutely",
            job_id=j.id,
            timing=Timing(trigger=CronTrigger.parse("* * * * *"), timezone="Europe/Berlin"),
            next_fire_at=now.replace(second=0, microsecond=0),
        )
        await tx.schedules.add(schedule)
    async with system.system() as tx:
        epoch = await acquire_all(tx.leader, "a", timedelta(seconds=30))
    assert epoch is not None
    done = await materialise_due(system, fence=epoch)
    assert done.runs >= 1
    async with app.transaction(ACME) as tx:
        return list(await tx.runs.list(RunFilter(), after=None, limit=10))

"""The columns SQL filters on (migration 0021): backfilled from the documents stored
before it, written with the document on every save."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import asyncpg

from adapters.postgres.database import PostgresDatabase, create_pool
from adapters.postgres.migrate import migrate
from domain.ids import JobId, ScheduleId, TenantId
from domain.job import Job, Target, TargetKind
from domain.schedule import Schedule
from domain.timing import Timing
from domain.triggers import CronTrigger, EventTrigger
from tests.older_rows import migrated_before
from tests.servers import app_dsn
from tests.unit.test_codec import STORED_JOBS, STORED_SCHEDULES, T

ACME = TenantId("acme")


async def _insert_old_job(conn: asyncpg.Connection, name: str, spec: str) -> uuid.UUID:
    job_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO jobs (tenant_id, id, name, spec, created_at, updated_at) "
        "VALUES ('acme', $1, $2, $3::jsonb, now(), now())",
        job_id,
        name,
        spec,
    )
    return job_id


async def test_the_migration_backfills_the_columns_from_the_stored_documents(
    empty_database: str, tmp_path: Path
) -> None:
    """Rows written before 0021 get target_kind, max_concurrency (a number as a cap,
    rounded up and clamped; anything else no cap) and trigger_type from their documents."""
    await migrated_before(empty_database, 21, tmp_path / "migrations")
    conn = await asyncpg.connect(empty_database)
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('kairos.tenant_id', 'acme', true)")
            http = await _insert_old_job(conn, "http", STORED_JOBS[0])
            worker = await _insert_old_job(conn, "worker", STORED_JOBS[1])
            huge = await _insert_old_job(
                conn,
                "huge",
                STORED_JOBS[1].replace('"max_concurrency":null', '"max_concurrency":1e12'),
            )
            half = await _insert_old_job(
                conn,
                "half",
                STORED_JOBS[1].replace('"max_concurrency":null', '"max_concurrency":2.5'),
            )
            text = await _insert_old_job(
                conn,
                "text",
                STORED_JOBS[1].replace('"max_concurrency":null', '"max_concurrency":"3"'),
            )
            for i, spec in enumerate(STORED_SCHEDULES):
                await conn.execute(
                    "INSERT INTO schedules (tenant_id, id, name, job_id, spec, state, "
                    "created_at, updated_at) "
                    "VALUES ('acme', $1, $2, $3, $4::jsonb, 'enabled', now(), now())",
                    uuid.UUID(int=100 + i),
                    f"s{i}",
                    http,
                    spec,
                )
        assert (await migrate(empty_database))[:1] == [21]  # and the ones after it
        jobs = {
            r["id"]: (r["target_kind"], r["max_concurrency"])
            for r in await conn.fetch("SELECT id, target_kind, max_concurrency FROM jobs")
        }
        assert jobs == {
            http: ("HTTP", 4),
            worker: ("WORKER", None),
            huge: ("WORKER", 2147483647),
            half: ("WORKER", 3),
            text: ("WORKER", None),
        }
        types = await conn.fetch("SELECT trigger_type FROM schedules ORDER BY id")
        assert [r["trigger_type"] for r in types] == [
            "CRON",
            "RRULE",
            "FIXED_DELAY",
            "ONE_SHOT",
            "ONE_SHOT",
            "EVENT",
        ]
        forced = await conn.fetch(
            "SELECT relname FROM pg_class WHERE relname IN ('jobs', 'schedules') "
            "AND relforcerowsecurity"
        )
        assert sorted(r["relname"] for r in forced) == ["jobs", "schedules"]
    finally:
        await conn.close()


async def test_every_save_writes_the_columns_with_the_document(database: str) -> None:
    """Adding and saving a job or a schedule keeps its columns equal to its fields."""
    pool = await create_pool(app_dsn(database))
    owner = await asyncpg.connect(database)
    try:
        db = PostgresDatabase(pool)
        job = Job(
            id=JobId(uuid.uuid4()),
            tenant_id=ACME,
            name="capped",
            target=Target(kind=TargetKind.EVENT, config={"subject": "capped"}),
            max_concurrency=2,
            created_at=T,
            updated_at=T,
        )
        schedule = Schedule(
            id=ScheduleId(uuid.uuid4()),
            tenant_id=ACME,
            name="cron",
            job_id=job.id,
            timing=Timing(trigger=CronTrigger.parse("* * * * *")),
            created_at=T,
            updated_at=T,
        )
        async with db.transaction(ACME) as tx:
            await tx.jobs.add(job)
            await tx.schedules.add(schedule)

        async def columns() -> tuple[object, ...]:
            j = await owner.fetchrow(
                "SELECT target_kind, max_concurrency FROM jobs WHERE id = $1", job.id
            )
            s = await owner.fetchval(
                "SELECT trigger_type FROM schedules WHERE id = $1", schedule.id
            )
            assert j is not None
            return j["target_kind"], j["max_concurrency"], s

        assert await columns() == ("EVENT", 2, "CRON")
        changed_job = replace(
            job,
            target=Target(kind=TargetKind.WORKER, config={"type": "reports"}),
            max_concurrency=None,
            version=2,
            updated_at=T + timedelta(seconds=1),
        )
        changed_schedule = replace(
            schedule,
            timing=Timing(trigger=EventTrigger(subject="orders.created")),
            version=2,
            updated_at=T + timedelta(seconds=1),
        )
        async with db.transaction(ACME) as tx:
            await tx.jobs.save(changed_job, expected_version=1)
            await tx.schedules.save(changed_schedule, expected_version=1)
        assert await columns() == ("WORKER", None, "EVENT")
        async with db.transaction(ACME) as tx:
            assert [s.id for s in await tx.schedules.event_schedules()] == [schedule.id]
            assert await tx.jobs.get(job.id) == changed_job
    finally:
        await owner.close()
        await pool.close()

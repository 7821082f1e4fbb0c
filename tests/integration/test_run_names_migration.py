"""Migrations 0022 (job deletion) and 0023 (run names) over rows written before them."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import asyncpg

from adapters.postgres.migrate import DEFAULT_DIR, migrate
from tests.unit.test_codec import STORED_JOBS, STORED_SCHEDULES


async def test_older_runs_get_todays_names_and_jobs_stay_readable(
    empty_database: str, tmp_path: Path
) -> None:
    """A run stored before 0023 gets its schedule's and job's names; a job stored
    before 0022 is not deleted."""
    before = tmp_path / "migrations"
    before.mkdir()
    for path in DEFAULT_DIR.glob("[0-9]*.sql"):
        if int(path.name[:4]) < 22:
            shutil.copy(path, before / path.name)
    await migrate(empty_database, before)
    job_id, schedule_id, run_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    conn = await asyncpg.connect(empty_database)
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('kairos.tenant_id', 'acme', true)")
            await conn.execute(
                "INSERT INTO jobs (tenant_id, id, name, spec, created_at, updated_at) "
                "VALUES ('acme', $1, 'report', $2::jsonb, now(), now())",
                job_id,
                STORED_JOBS[0],
            )
            await conn.execute(
                "INSERT INTO schedules (tenant_id, id, name, job_id, spec, state, "
                "created_at, updated_at) "
                "VALUES ('acme', $1, 'nightly', $2, $3::jsonb, 'enabled', now(), now())",
                schedule_id,
                job_id,
                STORED_SCHEDULES[0],
            )
            await conn.execute(
                "INSERT INTO runs (tenant_id, id, schedule_id, job_id, nominal_at, dispatch_at, "
                "status, max_attempts, priority, available_at, capability, created_at, "
                "updated_at) VALUES ('acme', $1, $2, $3, now(), now(), 'succeeded', 1, 1, "
                "now(), 'HTTP', now(), now())",
                run_id,
                schedule_id,
                job_id,
            )
        assert (await migrate(empty_database))[:2] == [22, 23]
        row = await conn.fetchrow("SELECT schedule_name, job_name FROM runs WHERE id = $1", run_id)
        assert (row["schedule_name"], row["job_name"]) == ("nightly", "report")
        job = await conn.fetchrow("SELECT deleted_at FROM jobs WHERE id = $1", job_id)
        assert job["deleted_at"] is None
    finally:
        await conn.close()

"""Migrations 0022 (job deletion) and 0023 (run names) over rows written before them."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from adapters.postgres.migrate import migrate
from tests.older_rows import migrated_before, store_run


async def test_older_runs_get_todays_names_and_jobs_stay_readable(
    empty_database: str, tmp_path: Path
) -> None:
    """A run stored before 0023 gets its schedule's and job's names; a job stored
    before 0022 is not deleted."""
    await migrated_before(empty_database, 22, tmp_path / "migrations")
    conn = await asyncpg.connect(empty_database)
    try:
        async with conn.transaction():
            job_id, _, run_id = await store_run(conn)
        assert (await migrate(empty_database))[:2] == [22, 23]
        row = await conn.fetchrow("SELECT schedule_name, job_name FROM runs WHERE id = $1", run_id)
        assert (row["schedule_name"], row["job_name"]) == ("nightly", "report")
        job = await conn.fetchrow("SELECT deleted_at FROM jobs WHERE id = $1", job_id)
        assert job["deleted_at"] is None
    finally:
        await conn.close()

"""Rows as an older schema stored them, for the tests of a migration over existing data:
a database migrated up to (not including) a given migration, and one tenant's job,
schedule and run written straight into it."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import asyncpg

from adapters.postgres.migrate import DEFAULT_DIR, migrate
from tests.unit.test_codec import STORED_JOBS, STORED_SCHEDULES


def migrations_before(number: int, folder: Path) -> Path:
    """A folder holding the migrations numbered below ``number`` only."""
    folder.mkdir()
    for path in DEFAULT_DIR.glob("[0-9]*.sql"):
        if int(path.name[:4]) < number:
            shutil.copy(path, folder / path.name)
    return folder


async def migrated_before(database: str, number: int, folder: Path) -> None:
    """``database`` migrated with every migration numbered below ``number`` only."""
    await migrate(database, migrations_before(number, folder))


async def store_run(conn: asyncpg.Connection) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """Tenant acme's job ``report``, schedule ``nightly`` and one succeeded run of it,
    inserted in the caller's transaction; their ids (job, schedule, run)."""
    job_id, schedule_id, run_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
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
    return job_id, schedule_id, run_id

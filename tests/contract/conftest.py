"""The subject of every contract test: the memory fake, then PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from adapters.memory.database import MemoryDatabase
from adapters.postgres.database import PostgresDatabase, create_pool
from tests.contract.support import Subject
from tests.servers import app_dsn


@pytest.fixture(params=["memory", "postgres"])
async def subject(request: pytest.FixtureRequest) -> AsyncIterator[Subject]:
    if request.param == "memory":
        memory = MemoryDatabase()

        async def memory_events() -> list[uuid.UUID]:
            return [e.id for e in memory.outbox]

        yield Subject(memory, memory, memory_events)
        return
    dsn: str = request.getfixturevalue("database")
    pool = await create_pool(app_dsn(dsn), max_size=4)
    scheduler_pool = await create_pool(app_dsn(dsn, "kairos_scheduler"), max_size=4)

    async def pg_events() -> list[uuid.UUID]:
        conn = await asyncpg.connect(dsn)  # the owner: a superuser sees every tenant
        try:
            rows = await conn.fetch("SELECT event_id FROM outbox ORDER BY seq")
        finally:
            await conn.close()
        return [r["event_id"] for r in rows]

    try:
        yield Subject(PostgresDatabase(pool), PostgresDatabase(scheduler_pool), pg_events, dsn)
    finally:
        await pool.close()
        await scheduler_pool.close()

"""Real servers for integration tests: one PostgreSQL cluster and one nats-server per
session, a fresh database per test cloned from a migrated template (as procrastinate
does), so tests never see each other's rows."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from adapters.embedded.nats import EmbeddedNats
from adapters.embedded.postgres import EmbeddedPostgres
from adapters.postgres.migrate import migrate

TEMPLATE = "kairos_template"


@pytest.fixture(scope="session")
def server_root() -> Iterator[Path]:
    # Not under pytest's tmp dir: that is 0700 root-only, and the cluster runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="kairos-it-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres(server_root: Path) -> Iterator[EmbeddedPostgres]:
    cluster = EmbeddedPostgres(server_root / "pg")
    cluster.start()
    try:

        async def prepare() -> None:
            conn = await asyncpg.connect(cluster.dsn)
            try:
                await conn.execute(f"CREATE DATABASE {TEMPLATE}")
            finally:
                await conn.close()
            await migrate(cluster.dsn_for(TEMPLATE))

        asyncio.run(prepare())
        yield cluster
    finally:
        cluster.stop()


def _admin(postgres: EmbeddedPostgres, sql: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(postgres.dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def _scratch_database(postgres: EmbeddedPostgres, template: str | None) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    _admin(postgres, f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
    yield postgres.dsn_for(name)
    _admin(postgres, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def database(postgres: EmbeddedPostgres) -> Iterator[str]:
    """DSN (as the schema owner) of a fresh, migrated database for one test."""
    yield from _scratch_database(postgres, TEMPLATE)


@pytest.fixture
def empty_database(postgres: EmbeddedPostgres) -> Iterator[str]:
    """DSN of a fresh database with no schema at all."""
    yield from _scratch_database(postgres, None)


@pytest.fixture(scope="session")
def nats_server(server_root: Path) -> Iterator[EmbeddedNats]:
    server = EmbeddedNats(server_root / "nats")
    server.start()
    yield server
    server.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.integration)


os.environ.setdefault("PGCONNECT_TIMEOUT", "10")

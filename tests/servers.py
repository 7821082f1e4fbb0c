"""Real servers for integration and contract tests: one PostgreSQL cluster and one
nats-server per session (started only if a test asks), a fresh database per test cloned
from a migrated template (as procrastinate does), so tests never see each other's rows."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from adapters.embedded.nats import EmbeddedNats
from adapters.embedded.postgres import EmbeddedPostgres
from adapters.postgres.migrate import migrate

TEMPLATE = "kairos_template"
T = TypeVar("T")

# The test being run, so a server fixture knows who asked.
running_test: pytest.Item | None = None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    global running_test  # noqa: PLW0603 - one test runs at a time in a session
    running_test = item
    try:
        return (yield)
    finally:
        running_test = None


def require_integration(server: str) -> None:
    """Refuse to start ``server`` for a test not marked ``integration``: the fast subset
    (``-m "not integration"``) must never start one, and a test that needs one must say so
    (tests/conftest.py marks by directory, fixture and parameter)."""
    item = running_test
    if item is not None and item.get_closest_marker("integration") is None:
        pytest.fail(
            f"{item.nodeid} starts {server} but is not marked integration: mark it, or put it "
            "where tests/conftest.py marks it",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def server_root() -> Iterator[Path]:
    require_integration("a server")
    # Not under pytest's tmp dir: that is 0700 root-only, and the cluster runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="kairos-it-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres(server_root: Path) -> Iterator[EmbeddedPostgres]:
    require_integration("PostgreSQL")
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

        _blocking(prepare())
        yield cluster
    finally:
        cluster.stop()


def _blocking(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even when an event loop is already
    running in this thread (fixtures requested from async fixtures)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _admin(postgres: EmbeddedPostgres, sql: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(postgres.dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    _blocking(run())


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
    require_integration("nats-server")
    server = EmbeddedNats(server_root / "nats")
    server.start()
    yield server
    server.stop()


def app_dsn(dsn: str, role: str = "kairos_app") -> str:
    """The same database, connected as a service role (not owner, no RLS bypass):
    ``kairos_app`` for tenant traffic, ``kairos_scheduler`` for cross-tenant loops."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port}"))


os.environ.setdefault("PGCONNECT_TIMEOUT", "10")

"""Migrations, row-level security and the embedded servers, against the real things."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import nats
import pytest

from adapters.embedded.nats import EmbeddedNats
from adapters.postgres.migrate import DEFAULT_DIR, MigrationError, migrate, pending
from domain.errors import StorageError
from domain.ids import TenantId
from service.runtime import connections as runtime
from tests.servers import app_dsn

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ALL = sorted(int(f.name[:4]) for f in DEFAULT_DIR.glob("[0-9]*.sql"))


async def add_job(conn: asyncpg.Connection, tenant: str, name: str) -> uuid.UUID:
    job_id = uuid.uuid4()
    async with conn.transaction():
        await conn.execute("SELECT set_config('kairos.tenant_id', $1, true)", tenant)
        await conn.execute(
            "INSERT INTO jobs (tenant_id, id, name, spec, created_at, updated_at) "
            "VALUES ($1, $2, $3, '{}', $4, $4)",
            tenant,
            job_id,
            name,
            T0,
        )
    return job_id


async def test_migrate_applies_once_and_reports_nothing_pending(empty_database: str) -> None:
    """A second `migrate` changes nothing; `pending` is empty once applied."""
    assert await pending(empty_database) == ALL
    assert await migrate(empty_database) == ALL
    assert await migrate(empty_database) == []
    assert await pending(empty_database) == []


async def test_replicas_migrating_at_once_apply_each_file_once(empty_database: str) -> None:
    """Four concurrent runners under the advisory lock: exactly one applies 0001."""
    results = await asyncio.gather(*(migrate(empty_database) for _ in range(4)))
    assert sorted(results) == [[], [], [], ALL]
    conn = await asyncpg.connect(empty_database)
    try:
        assert await conn.fetchval("SELECT count(*) FROM kairos_migrations") == len(ALL)
    finally:
        await conn.close()


async def test_a_migration_edited_after_it_was_applied_is_refused(
    empty_database: str, tmp_path: Path
) -> None:
    """Checksums are recorded; an edited file stops the runner with a clear error."""
    folder = tmp_path / "migrations"
    shutil.copytree(DEFAULT_DIR, folder, ignore=shutil.ignore_patterns("*.md"))
    await migrate(empty_database, folder)
    first = folder / "0001_core.sql"
    first.write_text(first.read_text() + "\n-- edited\n")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        await migrate(empty_database, folder)


async def test_failed_migration_leaves_nothing_behind(empty_database: str, tmp_path: Path) -> None:
    """A file that fails half-way is rolled back and not recorded."""
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_broken.sql").write_text("CREATE TABLE half (x int);\nSELECT nonsense;\n")
    with pytest.raises(StorageError):  # the server's error, translated by the adapter
        await migrate(empty_database, folder)
    conn = await asyncpg.connect(empty_database)
    try:
        assert await conn.fetchval("SELECT to_regclass('half')") is None
        assert await conn.fetchval("SELECT count(*) FROM kairos_migrations") == 0
    finally:
        await conn.close()


async def test_app_role_sees_zero_rows_without_a_tenant(database: str) -> None:
    """RLS is the second wall: no tenant set -> nothing; tenant A never sees B's rows."""
    owner = await asyncpg.connect(database)
    app = await asyncpg.connect(app_dsn(database))
    try:
        await add_job(owner, "acme", "report")
        await add_job(owner, "globex", "report")
        assert await app.fetchval("SELECT count(*) FROM jobs") == 0
        async with app.transaction():
            await app.execute("SELECT set_config('kairos.tenant_id', 'acme', true)")
            assert await app.fetchval("SELECT array_agg(tenant_id) FROM jobs") == ["acme"]
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await app.execute(
                    "INSERT INTO jobs (tenant_id, id, name, spec, created_at, updated_at) "
                    "VALUES ('globex', $1, 'sneaky', '{}', now(), now())",
                    uuid.uuid4(),
                )
        # set per transaction: gone once the transaction ended
        assert await app.fetchval("SELECT count(*) FROM jobs") == 0
    finally:
        await owner.close()
        await app.close()


async def test_the_audit_log_is_append_only_and_tenant_scoped(database: str) -> None:
    """The service roles may add and read entries of their tenant, never change or
    delete them, and see none without a tenant."""
    app = await asyncpg.connect(app_dsn(database))
    try:
        async with app.transaction():
            await app.execute("SELECT set_config('kairos.tenant_id', 'acme', true)")
            await app.execute(
                "INSERT INTO audit_log (tenant_id, id, at, actor, method, path, status) "
                "VALUES ('acme', $1, now(), 'me', 'POST', '/jobs', 201)",
                uuid.uuid4(),
            )
            assert await app.fetchval("SELECT count(*) FROM audit_log") == 1
        for statement in ("UPDATE audit_log SET status = 500", "DELETE FROM audit_log"):
            async with app.transaction():
                await app.execute("SELECT set_config('kairos.tenant_id', 'acme', true)")
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await app.execute(statement)
        assert await app.fetchval("SELECT count(*) FROM audit_log") == 0
    finally:
        await app.close()


async def test_app_role_neither_owns_nor_bypasses(database: str) -> None:
    """The service role is not the owner, cannot bypass RLS, and cannot turn it off."""
    app = await asyncpg.connect(app_dsn(database))
    try:
        role = await app.fetchrow(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        )
        assert (role["rolsuper"], role["rolbypassrls"]) == (False, False)
        owned = await app.fetchval(
            "SELECT count(*) FROM pg_tables "
            "WHERE schemaname = 'public' AND tableowner = current_user"
        )
        assert owned == 0
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await app.execute("ALTER TABLE jobs DISABLE ROW LEVEL SECURITY")
        forced = await app.fetch(
            "SELECT relname FROM pg_class WHERE relname = ANY($1) "
            "AND relrowsecurity AND relforcerowsecurity",
            ["jobs", "calendars", "schedules", "runs", "run_attempts", "workers", "outbox"],
        )
        assert len(forced) == 7
    finally:
        await app.close()


async def test_run_key_is_unique(database: str) -> None:
    """(tenant, schedule, nominal_at) identifies a fire; a second insert is a no-op."""
    app = await asyncpg.connect(app_dsn(database))
    owner = await asyncpg.connect(database)
    try:
        job_id = await add_job(owner, "acme", "report")
        schedule_id = uuid.uuid4()
        insert = (
            "INSERT INTO runs (tenant_id, id, schedule_id, job_id, nominal_at, dispatch_at, "
            "status, max_attempts, priority, available_at, capability, created_at, updated_at) "
            "VALUES ('acme', $1, $2, $3, $4, $4, 'pending', 1, 1, $4, 'EVENT', $4, $4) "
            "ON CONFLICT (tenant_id, schedule_id, nominal_at) DO NOTHING"
        )
        async with app.transaction():
            await app.execute("SELECT set_config('kairos.tenant_id', 'acme', true)")
            first = await app.execute(insert, uuid.uuid4(), schedule_id, job_id, T0)
            second = await app.execute(insert, uuid.uuid4(), schedule_id, job_id, T0)
            assert (first, second) == ("INSERT 0 1", "INSERT 0 0")
    finally:
        await app.close()
        await owner.close()


async def test_jetstream_dedupes_by_msg_id(nats_server: EmbeddedNats) -> None:
    """The embedded nats-server runs JetStream; Nats-Msg-Id dedupes republished events."""
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        stream = f"T{uuid.uuid4().hex[:8]}"
        await js.add_stream(name=stream, subjects=[f"{stream}.>"])
        first = await js.publish(f"{stream}.x", b"1", headers={"Nats-Msg-Id": "evt-1"})
        again = await js.publish(f"{stream}.x", b"1", headers={"Nats-Msg-Id": "evt-1"})
        assert (first.duplicate, again.duplicate) == (None, True)
        assert (await js.stream_info(stream)).state.messages == 1
    finally:
        await nc.drain()


def test_embedded_nats_stops_cleanly(tmp_path: Path) -> None:
    """A second embedded server starts on its own port and stops on request."""
    server = EmbeddedNats(tmp_path / "n2")
    server.start()
    assert server.running
    server.stop()
    assert not server.running


async def test_system_mode_is_only_for_members_of_kairos_system(database: str) -> None:
    """The scheduler role sees all tenants in system mode; the app role gains nothing."""
    owner = await asyncpg.connect(database)
    app = await asyncpg.connect(app_dsn(database))
    scheduler = await asyncpg.connect(app_dsn(database, "kairos_scheduler"))
    try:
        await add_job(owner, "acme", "report")
        await add_job(owner, "globex", "report")
        system_count = "SELECT set_config('kairos.system', 'on', true), (SELECT count(*) FROM jobs)"
        async with scheduler.transaction():
            assert (await scheduler.fetchrow(system_count))[1] == 2
        assert await scheduler.fetchval("SELECT count(*) FROM jobs") == 0  # flag is per tx
        async with app.transaction():
            assert (await app.fetchrow(system_count))[1] == 0
        role = await scheduler.fetchrow(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        )
        assert (role["rolsuper"], role["rolbypassrls"]) == (False, False)
    finally:
        for conn in (owner, app, scheduler):
            await conn.close()


async def test_the_api_refuses_a_database_role_that_can_act_for_every_tenant(
    database: str,
) -> None:
    """The API's pool must be kairos_app: the scheduler's role (a kairos_system member)
    stops the start; kairos_app is accepted and is who the sessions are."""
    with pytest.raises(RuntimeError, match="can act for every tenant"):
        async with runtime.api_database(app_dsn(database, "kairos_scheduler")):
            pass
    async with (
        runtime.api_database(app_dsn(database)) as db,
        db.transaction(TenantId("acme")) as tx,
    ):
        assert await tx._conn.fetchval("SELECT session_user") == "kairos_app"


def test_as_role_swaps_only_the_user() -> None:
    """The API's default URL is the scheduler's with its user swapped for kairos_app."""
    scheduler = "postgresql://kairos_scheduler:pw@db:5432/k?sslmode=require"
    api = "postgresql://kairos_app:pw@db:5432/k?sslmode=require"
    assert runtime.as_role(scheduler, "kairos_app") == api
    assert runtime.as_role("postgresql://u@/k?host=/run", "kairos_app") == (
        "postgresql://kairos_app@/k?host=/run"
    )

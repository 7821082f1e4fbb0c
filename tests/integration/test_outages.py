"""Outages of the real servers: a scheduler replica lives through a PostgreSQL restart
(not ready meanwhile, working again after); ``kairos worker`` started while PostgreSQL
is down waits for it and stops cleanly once NATS is gone; an EVENT delivery while
nats-server is down is not a success, and the retried message is in the stream once.

These tests stop servers, so they start their own (the session's are shared)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import httpx
import nats
import pytest
from nats.aio.msg import Msg

from adapters.auth.tokens import DEV_AUDIENCE, DEV_ISSUER, DevKeys
from adapters.clock import SystemClock
from adapters.embedded.nats import EmbeddedNats
from adapters.embedded.postgres import EmbeddedPostgres
from adapters.memory.clock import FakeClock
from adapters.nats.event_consumer import STREAM as INBOUND
from adapters.nats.event_target import EventTarget
from adapters.nats.publisher import JetStreamPublisher
from adapters.postgres.database import PostgresDatabase, create_pool
from adapters.postgres.migrate import migrate
from adapters.postgres.notifications import PostgresChangeFeed
from domain.ids import JobId, TenantId, new_id
from domain.job import Job, Target, TargetKind
from domain.run import RunStatus
from domain.timing import Timing
from domain.triggers import CronTrigger
from service.loops.scheduler import Scheduler, SchedulerSettings
from service.loops.worker_pool import WorkerPool
from service.usecases.commands import CreateSchedule
from service.usecases.health import Readiness
from service.usecases.schedules import create_schedule
from tests.servers import app_dsn
from tests.unit.test_worker_pool import T0, setup

ACME = TenantId("acme")
ROOT = Path(__file__).resolve().parents[2]
KAIROS = shutil.which("kairos", path=str(Path(sys.executable).parent))


@pytest.fixture(scope="module")
def own_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="kairos-outage-"))
    root.chmod(0o755)  # the cluster runs as postgres
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def own_postgres(own_root: Path) -> Iterator[EmbeddedPostgres]:
    """A migrated cluster of these tests' own, started; each test leaves it running."""
    cluster = EmbeddedPostgres(own_root / "pg")
    cluster.start()

    async def prepare() -> None:
        conn = await asyncpg.connect(cluster.dsn)
        try:
            await conn.execute("CREATE DATABASE kairos")
        finally:
            await conn.close()
        await migrate(cluster.dsn_for("kairos"))

    asyncio.run(prepare())
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def own_nats(own_root: Path) -> Iterator[EmbeddedNats]:
    server = EmbeddedNats(own_root / f"nats-{uuid.uuid4().hex[:6]}")
    server.start()
    yield server
    server.stop()


async def _eventually(check: object, seconds: float = 30.0) -> None:
    """Poll an async predicate until it holds (real servers, real time)."""
    assert callable(check)
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def _replica(
    cluster: EmbeddedPostgres, nats_url: str
) -> AsyncIterator[tuple[asyncio.Task[None], Readiness]]:
    dsn = app_dsn(cluster.dsn_for("kairos"), "kairos_scheduler")
    pool = await create_pool(dsn)
    nc = await nats.connect(nats_url, max_reconnect_attempts=-1)
    db = PostgresDatabase(pool)
    publisher = JetStreamPublisher(nc)
    await publisher.ensure_stream()
    scheduler = Scheduler(
        db,
        publisher,
        {TargetKind.EVENT: EventTarget(nc)},
        SystemClock(),
        SchedulerSettings(lease_ttl=timedelta(seconds=3), rescue_every=timedelta(seconds=0.5)),
        changes=PostgresChangeFeed(dsn),
    )

    async def no_migrations() -> list[int]:
        return []

    readiness = Readiness(
        db,
        nats_connected=lambda: nc.is_connected,
        pending_migrations=no_migrations,
        paused=scheduler.loops.snapshot,
    )
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(scheduler.run(stop, ready))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        yield task, readiness
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 20)
        await nc.close()
        pool.terminate()


async def _succeeded(cluster: EmbeddedPostgres, schedule_id: object) -> int:
    try:
        conn = await asyncpg.connect(cluster.dsn_for("kairos"))
    except (OSError, asyncpg.PostgresError):
        return -1
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM runs WHERE schedule_id = $1 AND status = 'succeeded'",
            schedule_id,
        )
        return count
    finally:
        await conn.close()


async def test_a_replica_lives_through_a_postgres_restart(
    own_postgres: EmbeddedPostgres, nats_server: EmbeddedNats, caplog: pytest.LogCaptureFixture
) -> None:
    """Fires every second; PostgreSQL stops for 4 s: the replica keeps running, is not
    ready and logs each paused loop once (not per retry); after the restart it is ready
    again and new fires succeed."""
    app_pool = await create_pool(app_dsn(own_postgres.dsn_for("kairos")))
    try:
        await _replica_through_restart(own_postgres, nats_server, caplog, app_pool)
    finally:
        app_pool.terminate()
        if not (Path(own_postgres.data) / "postmaster.pid").exists():
            await asyncio.to_thread(own_postgres.start)  # for the next test


async def _replica_through_restart(
    own_postgres: EmbeddedPostgres,
    nats_server: EmbeddedNats,
    caplog: pytest.LogCaptureFixture,
    app_pool: asyncpg.Pool,
) -> None:
    async with _replica(own_postgres, nats_server.url) as (task, readiness):
        now = SystemClock().now()
        job = Job(
            id=JobId(new_id()),
            tenant_id=ACME,
            name=f"tick-{new_id().hex[:6]}",
            target=Target(kind=TargetKind.EVENT, config={"subject": "tick"}),
            created_at=now,
            updated_at=now,
        )
        app = PostgresDatabase(app_pool)
        async with app.transaction(ACME) as tx:
            await tx.jobs.add(job)
        schedule = await create_schedule(
            app,
            CreateSchedule(
                tenant_id=ACME,
                name=job.name,
                job_id=job.id,
                timing=Timing(trigger=CronTrigger.parse("* * * * * *")),
            ),
        )

        async def some_succeeded() -> bool:
            return await _succeeded(own_postgres, schedule.id) >= 2

        await _eventually(some_succeeded)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="kairos"):
            await asyncio.to_thread(own_postgres.stop)
            await asyncio.sleep(4.0)  # integration: an outage of real time
        assert not task.done(), task.exception() if task.done() else None
        lines = Counter(r.getMessage() for r in caplog.records if r.name.startswith("kairos"))
        assert lines, "the outage went unreported"
        assert max(lines.values()) == 1, lines.most_common(3)
        ready, detail = await readiness.check()
        assert not ready
        assert not detail["postgres"]["ok"]
        assert detail["loops"]["paused"]  # e.g. leadership, waiting for the database
        await asyncio.to_thread(own_postgres.start)
        before = await _succeeded(own_postgres, schedule.id)

        async def more_succeeded() -> bool:
            return await _succeeded(own_postgres, schedule.id) >= before + 3

        await _eventually(more_succeeded, 40)

        async def ready_again() -> bool:
            return (await readiness.check())[0]

        await _eventually(ready_again, 40)
        assert not task.done()


def _worker_process(cluster: EmbeddedPostgres, nats_url: str) -> subprocess.Popen[str]:
    assert KAIROS is not None
    env = {
        **os.environ,
        "KAIROS_DATABASE_URL": app_dsn(cluster.dsn_for("kairos"), "kairos_scheduler"),
        "KAIROS_NATS_URL": nats_url,
        "KAIROS_LOG_FORMAT": "console",
    }
    return subprocess.Popen(
        [KAIROS, "worker", "--name", "outage-worker", "--concurrency", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


async def _line(process: subprocess.Popen[str], seconds: float) -> str:
    assert process.stdout is not None
    return await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), seconds)


async def test_a_worker_started_while_postgres_is_down_waits_then_stops_cleanly(
    own_postgres: EmbeddedPostgres, own_nats: EmbeddedNats
) -> None:
    """`kairos worker` with PostgreSQL down neither exits nor says ready; once the
    database starts it is ready; with NATS then gone, SIGTERM ends it promptly with
    status 0 and no traceback."""
    await asyncio.to_thread(own_postgres.stop)
    process = _worker_process(own_postgres, own_nats.url)
    try:
        await asyncio.sleep(4.0)  # integration: the worker waits in real time
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        await asyncio.to_thread(own_postgres.start)
        assert "kairos ready" in await _line(process, 40)
        await asyncio.to_thread(own_nats.stop)
        await asyncio.sleep(1.0)
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(asyncio.to_thread(process.wait), 20)
        stderr = process.stderr.read() if process.stderr else ""
        assert code == 0, stderr
        assert "Traceback" not in stderr
        assert "ConnectionReconnectingError" not in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if not (Path(own_postgres.data) / "postmaster.pid").exists():
            await asyncio.to_thread(own_postgres.start)


async def test_a_worker_started_while_nats_is_down_waits_for_it(
    own_postgres: EmbeddedPostgres, own_nats: EmbeddedNats
) -> None:
    """`kairos worker` with nats-server down waits (one line, no traceback per attempt)
    and is ready once NATS starts; SIGTERM then ends it with status 0."""
    await asyncio.to_thread(own_nats.stop)
    process = _worker_process(own_postgres, own_nats.url)
    try:
        await asyncio.sleep(5.0)  # integration: nats-py retries every 2 s meanwhile
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        await asyncio.to_thread(own_nats.start)
        assert "kairos ready" in await _line(process, 30)
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(asyncio.to_thread(process.wait), 20)
        stderr = process.stderr.read() if process.stderr else ""
        assert code == 0, stderr
        assert "Traceback" not in stderr
        assert stderr.count("nats unavailable") == 1, stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _serve_process(
    dsn: str, nats_url: str, env: dict[str, str], folder: Path
) -> subprocess.Popen[str]:
    assert KAIROS is not None
    return subprocess.Popen(
        [
            *(KAIROS, "serve", "--database-url", dsn, "--nats-url", nats_url),
            *("--api-port", "0", "--workers", "0"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=folder,
    )


async def test_serve_started_while_postgres_is_down_waits_and_reports_outages(
    own_postgres: EmbeddedPostgres, own_nats: EmbeddedNats, own_root: Path
) -> None:
    """`kairos serve` with PostgreSQL down waits (alive, not ready); once it starts,
    /health/ready answers 200; a later outage turns it 503 without ending the process,
    and it is 200 again after; SIGTERM then ends it with status 0."""
    keys = DevKeys(own_root / "auth").ensure()
    env = {
        **os.environ,
        "KAIROS_AUTH_JWKS_FILE": str(keys.jwks_file),
        "KAIROS_AUTH_ISSUER": DEV_ISSUER,
        "KAIROS_AUTH_AUDIENCE": DEV_AUDIENCE,
        "KAIROS_LOG_FORMAT": "console",
    }
    dsn = app_dsn(own_postgres.dsn_for("kairos"), "kairos_scheduler")
    await asyncio.to_thread(own_postgres.stop)
    process = _serve_process(dsn, own_nats.url, env, own_root)
    try:
        await asyncio.sleep(4.0)  # integration: the replica waits in real time
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        await asyncio.to_thread(own_postgres.start)
        line = await _line(process, 40)
        assert line.startswith("kairos ready: api http://"), line
        url = line.split()[3].rstrip(",")
        async with httpx.AsyncClient(base_url=url, timeout=10) as api:

            async def ready_is(status: int) -> bool:
                return (await api.get("/health/ready")).status_code == status

            await _eventually(lambda: ready_is(200), 40)
            await asyncio.to_thread(own_postgres.stop)
            await _eventually(lambda: ready_is(503), 20)
            await asyncio.sleep(3.0)
            assert process.poll() is None
            assert (await api.get("/health/live")).status_code == 200
            await asyncio.to_thread(own_postgres.start)
            await _eventually(lambda: ready_is(200), 40)
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(asyncio.to_thread(process.wait), 30)
        stderr = process.stderr.read() if process.stderr else ""
        assert code == 0, stderr
        assert "Traceback" not in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if not (Path(own_postgres.data) / "postmaster.pid").exists():
            await asyncio.to_thread(own_postgres.start)


async def test_an_event_delivery_while_nats_is_down_fails_then_lands_once(
    own_nats: EmbeddedNats,
) -> None:
    """nats-server down: the EVENT attempt is recorded failed, not succeeded (nothing
    sits in the reconnect buffer); once NATS is back the retry succeeds, a core
    subscriber receives it, and the stream holds the message exactly once."""
    clock = FakeClock(T0)
    db, run = await setup(clock, max_attempts=3)
    nc = await nats.connect(own_nats.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    try:
        target = EventTarget(nc, ack_timeout=2.0)
        pool = WorkerPool(db, {TargetKind.EVENT: target}, clock)
        assert (await target.execute_many([])) == []
        await asyncio.to_thread(own_nats.stop)

        async def disconnected() -> bool:
            return not nc.is_connected

        await _eventually(disconnected, 10)
        assert await pool.process() == 1
        async with db.transaction(ACME) as tx:
            stored = await tx.runs.get(run.id)
        assert stored.status is RunStatus.PENDING
        assert stored.attempts[-1].error is not None
        await asyncio.to_thread(own_nats.start)

        async def connected() -> bool:
            return nc.is_connected

        await _eventually(connected, 20)
        received: asyncio.Queue[str] = asyncio.Queue()

        async def on_message(msg: Msg) -> None:
            await received.put((msg.headers or {}).get("Nats-Msg-Id", ""))

        await nc.subscribe("t.acme.ping", cb=on_message)
        clock.advance(timedelta(seconds=11))  # past the job's 10 s backoff
        assert await pool.process() == 1
        async with db.transaction(ACME) as tx:
            stored = await tx.runs.get(run.id)
        assert stored.status is RunStatus.SUCCEEDED
        assert await asyncio.wait_for(received.get(), 5) == str(run.id)
        js = nc.jetstream()
        info = await js.stream_info(INBOUND, subjects_filter="t.acme.ping")
        assert info.state.subjects == {"t.acme.ping": 1}
        stored_msg = await js.get_last_msg(INBOUND, "t.acme.ping")
        assert (stored_msg.headers or {}).get("Nats-Msg-Id") == str(run.id)
    finally:
        await nc.close()

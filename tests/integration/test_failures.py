"""Failure paths on real servers, through the whole scheduler process: a target that
keeps failing ends dead after backoff; a worker that dies mid-run loses its run to
another worker once its lease lapses."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg

from adapters.clock import SystemClock
from adapters.embedded.nats import EmbeddedNats
from adapters.nats.event_target import EventTarget
from adapters.nats.publisher import JetStreamPublisher
from adapters.postgres.database import PostgresDatabase, create_pool
from adapters.postgres.notifications import PostgresChangeFeed
from domain.errors import ExecutionFailed
from domain.ids import RunId, TenantId, WorkerId, new_id, run_id_for
from domain.job import Backoff, BackoffKind, Job, Target, TargetKind
from domain.run import Outcome, Run, RunStatus
from domain.timing import Timing
from domain.triggers import OneShotTrigger
from service.loops.leadership import acquire_all
from service.loops.materialiser import materialise_due
from service.loops.scheduler import Scheduler, SchedulerSettings
from service.usecases import runs as use
from service.usecases.commands import CreateJob, CreateSchedule
from service.usecases.jobs import create_job
from service.usecases.schedules import create_schedule
from tests.servers import app_dsn

ACME = TenantId("acme")


class AlwaysFailing:
    async def execute(self, run: Run, job: Job) -> None:
        raise ExecutionFailed("receiver answered 500")


@dataclass
class Stack:
    app: PostgresDatabase
    system: PostgresDatabase
    nc: Client
    events: asyncio.Queue[tuple[str, dict[str, object]]]


@contextlib.asynccontextmanager
async def stack(database: str, nats_server: EmbeddedNats) -> AsyncIterator[Stack]:
    app_pool = await create_pool(app_dsn(database))
    system_pool = await create_pool(app_dsn(database, "kairos_scheduler"))
    nc = await nats.connect(nats_server.url)
    events: asyncio.Queue[tuple[str, dict[str, object]]] = asyncio.Queue()

    async def on_event(msg: Msg) -> None:
        await events.put((msg.subject, json.loads(msg.data)["data"]))

    await nc.subscribe("scheduler.run.*.acme", cb=on_event)
    await JetStreamPublisher(nc).ensure_stream()
    try:
        yield Stack(PostgresDatabase(app_pool), PostgresDatabase(system_pool), nc, events)
    finally:
        await nc.drain()
        await app_pool.close()
        await system_pool.close()


@contextlib.asynccontextmanager
async def scheduler(s: Stack, dsn: str, executors: dict[TargetKind, object]) -> AsyncIterator[None]:
    stop = asyncio.Event()
    app = Scheduler(
        s.system,
        JetStreamPublisher(s.nc),
        executors,  # type: ignore[arg-type]
        SystemClock(),
        SchedulerSettings(rescue_every=timedelta(milliseconds=200)),
        changes=PostgresChangeFeed(dsn),
    )
    ready = asyncio.Event()
    task = asyncio.create_task(app.run(stop, ready))
    await ready.wait()
    try:
        yield
    finally:
        stop.set()
        await task


async def one_shot_now(s: Stack, job: Job) -> RunId:
    async with s.app.transaction(ACME) as tx:
        now = await tx.now()
    schedule = await create_schedule(
        s.app,
        CreateSchedule(
            tenant_id=ACME,
            name=f"once-{new_id().hex[:6]}",
            job_id=job.id,
            timing=Timing(trigger=OneShotTrigger.parse(now.isoformat())),
        ),
    )
    assert schedule.next_fire_at is not None
    return run_id_for(ACME, schedule.id, schedule.next_fire_at)


async def until(events: asyncio.Queue[tuple[str, dict[str, object]]], subject: str) -> list[str]:
    seen: list[str] = []
    while not seen or seen[-1] != subject:
        seen.append((await asyncio.wait_for(events.get(), 20))[0])
    return seen


async def test_a_failing_target_retries_with_backoff_then_dies(
    database: str, nats_server: EmbeddedNats
) -> None:
    """3 attempts, each retry no earlier than its backoff allows, then dead with
    scheduler.run.dead; started/failed arrive once per attempt."""
    async with stack(database, nats_server) as s:
        job, _ = await create_job(
            s.app,
            CreateJob(
                tenant_id=ACME,
                name="flaky",
                target=Target(kind=TargetKind.EVENT, config={"subject": "flaky"}),
                max_attempts=3,
                backoff=Backoff(
                    kind=BackoffKind.EXPONENTIAL,
                    initial=timedelta(milliseconds=300),
                    multiplier=2,
                    max=timedelta(seconds=1),
                ),
            ),
        )
        dsn = app_dsn(database, "kairos_scheduler")
        async with scheduler(s, dsn, {TargetKind.EVENT: AlwaysFailing()}):
            run_id = await one_shot_now(s, job)
            seen = await until(s.events, "scheduler.run.dead.acme")
        assert seen == [
            "scheduler.run.started.acme",
            "scheduler.run.failed.acme",
        ] * 3 + ["scheduler.run.dead.acme"]
        run = await use.get_run(s.app, tenant_id=ACME, run_id=run_id)
        assert (run.status, run.attempt, run.reason) == (RunStatus.DEAD, 3, "receiver answered 500")
        assert [a.outcome for a in run.attempts] == [Outcome.FAILED] * 3
        # Full jitter: each gap is at least 0 and the run was never started early.
        for before, after in zip(run.attempts, run.attempts[1:], strict=False):
            assert before.ended_at is not None
            assert after.started_at >= before.ended_at


async def test_a_dead_workers_run_is_taken_back_and_finished_by_another(
    database: str, nats_server: EmbeddedNats
) -> None:
    """Worker A claims with a 1 s lease and vanishes; the rescuer takes the run back and
    the scheduler's own pool (worker B) completes it: attempt 1 lease_expired by A,
    attempt 2 succeeded by B."""
    async with stack(database, nats_server) as s:
        job, _ = await create_job(
            s.app,
            CreateJob(
                tenant_id=ACME,
                name="slow",
                target=Target(kind=TargetKind.EVENT, config={"subject": "slow"}),
                backoff=Backoff(kind=BackoffKind.FIXED, initial=timedelta(milliseconds=10)),
            ),
        )
        run_id = await one_shot_now(s, job)
        dsn = app_dsn(database, "kairos_scheduler")
        # Materialise it as a short-lived leader, so no pool picks it up yet.
        async with s.system.system() as tx:
            epoch = await acquire_all(tx.leader, "one-off", timedelta(milliseconds=500))
        assert epoch is not None
        assert (await materialise_due(s.system, fence=epoch)).runs == 1
        worker_a = WorkerId(new_id())
        (claimed,) = await use.claim(
            s.system,
            worker_id=worker_a,
            capabilities=frozenset({"EVENT"}),
            limit=1,
            lease=timedelta(seconds=1),
        )
        assert claimed.id == run_id
        # Worker A is gone: no heartbeat, no outcome. Another replica with a pool runs.
        async with scheduler(s, dsn, {TargetKind.EVENT: EventTarget(s.nc)}):
            seen = await until(s.events, "scheduler.run.succeeded.acme")
        assert "scheduler.run.failed.acme" in seen
        run = await use.get_run(s.app, tenant_id=ACME, run_id=run_id)
        assert run.status is RunStatus.SUCCEEDED
        first, second = run.attempts
        assert (first.worker_id, first.outcome) == (worker_a, Outcome.LEASE_EXPIRED)
        assert second.worker_id != worker_a
        assert second.outcome is Outcome.SUCCEEDED

"""The worker pool with memory adapters, a fake clock and a scripted target."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from adapters.memory.clock import FakeClock
from adapters.memory.database import MemoryDatabase
from domain.errors import ExecutionFailed
from domain.ids import JobId, ScheduleId, TenantId
from domain.job import Backoff, BackoffKind, Job, Target, TargetKind
from domain.run import NewRun, Run, RunStatus
from service.loops.worker_pool import WorkerPool

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ACME = TenantId("acme")


class ScriptedTarget:
    """Fails the first ``failures`` deliveries (with Retry-After), then succeeds."""

    def __init__(self, failures: int, retry_after: float | None = None) -> None:
        self.failures = failures
        self.retry_after = retry_after
        self.delivered: list[tuple[uuid.UUID, int]] = []

    async def execute(self, run: Run, job: Job) -> None:
        self.delivered.append((run.id, run.attempt))
        if self.failures > 0:
            self.failures -= 1
            raise ExecutionFailed("receiver down", retry_after=self.retry_after)


async def setup(clock: FakeClock, max_attempts: int) -> tuple[MemoryDatabase, Run]:
    db = MemoryDatabase(clock)
    job = Job(
        id=JobId(uuid.uuid4()),
        tenant_id=ACME,
        name="ping",
        target=Target(kind=TargetKind.EVENT, config={"subject": "ping"}),
        max_attempts=max_attempts,
        backoff=Backoff(
            kind=BackoffKind.FIXED, initial=timedelta(seconds=10), max=timedelta(seconds=10)
        ),
        created_at=T0,
        updated_at=T0,
    )
    run, _ = Run.dispatched(
        NewRun(
            tenant_id=ACME,
            schedule_id=ScheduleId(uuid.uuid4()),
            job_id=job.id,
            nominal_at=T0,
            dispatch_at=T0,
            max_attempts=job.max_attempts,
            priority=job.priority,
            capability="EVENT",
        ),
        now=T0,
    )
    async with db.transaction(ACME) as tx:
        await tx.jobs.add(job)
        await tx.runs.add_many([run])
    return db, run


async def test_failed_delivery_retries_after_retry_after_then_succeeds() -> None:
    """Retry-After (60 s) beats the 10 s backoff; the run is not claimable before it."""
    clock = FakeClock(T0)
    db, run = await setup(clock, max_attempts=3)
    target = ScriptedTarget(failures=1, retry_after=60)
    pool = WorkerPool(db, {TargetKind.EVENT: target}, clock)
    assert await pool.process() == 1
    clock.advance(timedelta(seconds=59))
    assert await pool.process() == 0
    clock.advance(timedelta(seconds=1))
    assert await pool.process() == 1
    async with db.transaction(ACME) as tx:
        stored = await tx.runs.get(run.id)
    assert stored.status is RunStatus.SUCCEEDED
    assert target.delivered == [(run.id, 1), (run.id, 2)]
    assert [a.error for a in stored.attempts] == ["receiver down", None]


async def test_out_of_attempts_is_dead() -> None:
    """Every delivery fails: after max_attempts the run is dead, never run again."""
    clock = FakeClock(T0)
    db, run = await setup(clock, max_attempts=2)
    pool = WorkerPool(db, {TargetKind.EVENT: ScriptedTarget(failures=99)}, clock)
    for _ in range(4):
        await pool.process()
        clock.advance(timedelta(seconds=11))
    async with db.transaction(ACME) as tx:
        stored = await tx.runs.get(run.id)
    assert (stored.status, stored.attempt) == (RunStatus.DEAD, 2)


class BlockingTarget:
    """Signals when a delivery starts, then waits until released (or cancelled)."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.cancelled = asyncio.Event()

    async def execute(self, run: Run, job: Job) -> None:
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


async def worker_states(db: MemoryDatabase) -> list[str]:
    return [e.type.value for e in db.outbox if e.type.value.startswith("scheduler.worker.")]


async def test_stop_drains_in_flight_runs_then_goes_offline() -> None:
    """A stop lets the running delivery finish and record success, then deregisters."""
    clock = FakeClock(T0)
    db, run = await setup(clock, max_attempts=3)
    target = BlockingTarget()
    pool = WorkerPool(db, {TargetKind.EVENT: target}, clock)
    stop = asyncio.Event()
    task = asyncio.create_task(pool.run(stop))
    await target.started.wait()
    stop.set()
    target.release.set()
    await task
    async with db.transaction(ACME) as tx:
        assert (await tx.runs.get(run.id)).status is RunStatus.SUCCEEDED
    assert await worker_states(db) == ["scheduler.worker.registered", "scheduler.worker.offline"]


async def test_a_delivery_outliving_the_grace_is_failed_for_a_prompt_retry() -> None:
    """Past the drain grace the attempt is cancelled and recorded failed, run pending."""
    clock = FakeClock(T0)
    db, run = await setup(clock, max_attempts=3)
    target = BlockingTarget()
    pool = WorkerPool(db, {TargetKind.EVENT: target}, clock, grace=timedelta(0))
    stop = asyncio.Event()
    task = asyncio.create_task(pool.run(stop))
    await target.started.wait()
    stop.set()
    await task
    async with db.transaction(ACME) as tx:
        stored = await tx.runs.get(run.id)
    assert stored.status is RunStatus.PENDING
    assert stored.attempts[-1].error == "worker stopped during the attempt"


async def test_the_job_timeout_is_applied_by_the_worker() -> None:
    """A delivery longer than the job's timeout is cut off and recorded as TIMEOUT."""
    clock = FakeClock(T0)
    db, run = await setup(clock, max_attempts=1)
    async with db.transaction(ACME) as tx:
        job = await tx.jobs.get(run.job_id)
        await tx.jobs.save(
            replace(job, timeout=timedelta(milliseconds=1), version=2), expected_version=1
        )
    pool = WorkerPool(db, {TargetKind.EVENT: BlockingTarget()}, clock)
    assert await pool.process() == 1
    async with db.transaction(ACME) as tx:
        stored = await tx.runs.get(run.id)
    assert (stored.status, stored.reason) == (RunStatus.DEAD, "TIMEOUT")


class BatchTarget:
    """A batch-capable target: fails the runs whose payload says so, per item."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    async def execute(self, run: Run, job: Job) -> None:
        raise AssertionError("a batch-capable target gets batches")

    async def execute_many(self, items: list[tuple[Run, Job]]) -> list[Exception | None]:
        self.batches.append(len(items))
        return [
            ExecutionFailed("rejected") if run.payload.get("fail") else None for run, _ in items
        ]


async def test_a_batch_capable_target_gets_the_claimed_runs_together() -> None:
    """One delivery call for the batch; each run's own outcome is recorded."""
    clock = FakeClock(T0)
    db, first = await setup(clock, max_attempts=1)
    others = [
        Run.dispatched(
            NewRun(
                tenant_id=ACME,
                schedule_id=ScheduleId(uuid.uuid4()),
                job_id=first.job_id,
                nominal_at=T0,
                dispatch_at=T0,
                max_attempts=1,
                priority=first.priority,
                capability="EVENT",
                payload={"fail": fail},
            ),
            now=T0,
        )[0]
        for fail in (True, False)
    ]
    async with db.transaction(ACME) as tx:
        await tx.runs.add_many(others)
    target = BatchTarget()
    pool = WorkerPool(db, {TargetKind.EVENT: target}, clock)
    assert await pool.process() == 3
    assert target.batches == [3]
    async with db.transaction(ACME) as tx:
        stored = [await tx.runs.get(run.id) for run in [first, *others]]
    assert [(r.status, r.reason) for r in stored] == [
        (RunStatus.SUCCEEDED, None),
        (RunStatus.DEAD, "rejected"),
        (RunStatus.SUCCEEDED, None),
    ]


async def test_a_cancel_asked_for_stops_the_delivery_and_ends_the_run_cancelled() -> None:
    """The heartbeat answers the cancel; the pool cancels the delivery task, reports the
    stop, and the run ends cancelled (not retried) while the pool keeps going."""
    clock = FakeClock(T0)
    db, run = await setup(clock, max_attempts=3)
    target = BlockingTarget()
    pool = WorkerPool(
        db, {TargetKind.EVENT: target}, clock, heartbeat_interval=timedelta(milliseconds=10)
    )
    stop = asyncio.Event()
    task = asyncio.create_task(pool.run(stop))
    await target.started.wait()
    async with db.transaction(ACME) as tx:
        current = await tx.runs.get(run.id, lock=True)
        marked, _ = current.request_cancel(reason="operator said so", now=clock.now())
        await tx.runs.save_many([marked])
    async with asyncio.timeout(10):  # the heartbeat waits on the clock: step it
        while not target.cancelled.is_set():
            await clock.until_sleeping()
            clock.advance(timedelta(milliseconds=10))
            await asyncio.sleep(0)
    stop.set()
    await task
    async with db.transaction(ACME) as tx:
        stored = await tx.runs.get(run.id)
    assert (stored.status, stored.reason) == (RunStatus.CANCELLED, "operator said so")
    assert [a.outcome.value for a in stored.attempts if a.outcome] == ["cancelled"]
    assert not task.cancelled()

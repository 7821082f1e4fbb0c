"""The scheduler's loops stepped on the fake clock: they wait on the clock they are
given, so a test moves time by hand and no test sleeps for real time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from adapters.memory.clock import FakeClock
from adapters.memory.database import MemoryDatabase
from adapters.memory.publisher import RecordingPublisher
from domain.ids import JobId, TenantId, run_id_for
from domain.ports import Change
from domain.run import RunStatus
from domain.schedule import Schedule
from domain.timing import Timing
from domain.triggers import FixedDelayTrigger
from service.loops.scheduler import Scheduler, SchedulerSettings
from service.telemetry import NoMetrics
from service.usecases.commands import CreateSchedule
from service.usecases.schedules import create_schedule
from tests.builders import add_event_job
from tests.unit.test_resilience import FlakyDatabase

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ACME = TenantId("acme")
# The loops that sleep when idle: leadership, materialiser, rescuer, relay, and the
# built-in pool's claim loop and heartbeat.
IDLE_SLEEPERS = 6


class CountingMetrics(NoMetrics):
    """What the scheduler reported: fire records materialised, and the leader epochs."""

    def __init__(self) -> None:
        self.fired = 0
        self.epochs: list[int | None] = []
        self.fire = asyncio.Event()

    def fires(self, count: int) -> None:
        self.fired += count
        if count:
            self.fire.set()

    def events_published(self, types: Sequence[str]) -> None:
        return None

    def leader(self, epoch: int | None) -> None:
        self.epochs.append(epoch)


async def test_the_materialiser_sleeps_until_the_next_fire_on_the_clock_then_fires() -> None:
    """Ready once every loop has run (no time passes for that); a fire a minute ahead is
    not materialised while the clock is stepped to just before it, and is at its time."""
    clock = FakeClock(T0)
    db = MemoryDatabase(clock)
    job = await add_event_job(db, ACME, "reports.daily")
    schedule = await create_schedule(
        db,
        CreateSchedule(
            tenant_id=ACME,
            name="every-minute",
            job_id=job.id,
            timing=Timing(
                trigger=FixedDelayTrigger(every=timedelta(minutes=1)),
                start_at=T0 + timedelta(minutes=1),
            ),
        ),
    )
    assert schedule.next_fire_at is not None
    due = schedule.next_fire_at
    metrics = CountingMetrics()
    settings = SchedulerSettings(
        worker_capacity=0,  # tenants' runs stay queued: only materialising is looked at
        max_sleep=timedelta(minutes=10),
        unlistened_poll=timedelta(minutes=10),  # no change feed: the next fire decides
    )
    scheduler = Scheduler(db, RecordingPublisher(), {}, clock, settings, metrics=metrics)
    stop, ready = asyncio.Event(), asyncio.Event()
    running = asyncio.create_task(scheduler.run(stop, ready))
    try:
        async with asyncio.timeout(10):  # a bound on real time, never reached when correct
            await ready.wait()
            assert clock.now() == T0
            await clock.until_sleeping(IDLE_SLEEPERS)
            assert scheduler.leader
            while clock.now() + settings.horizon < due:
                assert metrics.fired == 0, f"materialised early, at {clock.now()}"
                clock.advance(timedelta(seconds=1))
                await asyncio.sleep(0)
                await clock.until_sleeping(IDLE_SLEEPERS)
            await metrics.fire.wait()
        assert metrics.fired == 1
        assert due - settings.horizon <= clock.now() <= due
        async with db.transaction(ACME) as tx:
            run = await tx.runs.get(run_id_for(ACME, schedule.id, due))
        assert run.status is RunStatus.PENDING  # claimable, waiting for a worker
        assert metrics.epochs[:1] == [1]  # the lease was taken, at the first epoch
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)


async def test_ready_waits_for_every_loop_to_complete_a_pass() -> None:
    """With the database refusing transactions, the loops start but cannot complete a
    pass: not ready. Once it answers, each loop completes one and ready is set."""
    clock = FakeClock(T0)
    db = FlakyDatabase(clock)
    db.down = True
    scheduler = Scheduler(db, RecordingPublisher(), {}, clock, SchedulerSettings(worker_capacity=0))
    stop, ready = asyncio.Event(), asyncio.Event()
    running = asyncio.create_task(scheduler.run(stop, ready))
    try:
        await asyncio.sleep(0.2)  # real time: the registration's retry runs on a real backoff
        assert not ready.is_set()
        db.down = False
        async with asyncio.timeout(10):  # the relay's own retry waits on the clock: step it
            while not ready.is_set():
                clock.advance(timedelta(seconds=1))
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)


class SilentFeed:
    """A change feed that reports nothing: listening, or not (reconnecting)."""

    def __init__(self, listening: bool) -> None:
        self.listening = listening

    async def follow(self, on_change: Callable[[Change], None]) -> None:
        await asyncio.Event().wait()


async def every_minute(db: MemoryDatabase, job_id: JobId, name: str, start: datetime) -> Schedule:
    timing = Timing(trigger=FixedDelayTrigger(every=timedelta(minutes=1)), start_at=start)
    return await create_schedule(
        db, CreateSchedule(tenant_id=ACME, name=name, job_id=job_id, timing=timing)
    )


@pytest.mark.parametrize("listening", [False, True], ids=["feed-away", "feed-listening"])
async def test_while_the_change_feed_is_away_the_materialiser_polls(listening: bool) -> None:
    """A schedule added without a notification (as while LISTEN reconnects) is found
    by the next poll, ``unlistened_poll`` later, when the feed is away; a listening
    feed is trusted, so the materialiser sleeps on until the next fire it knew of."""
    clock = FakeClock(T0)
    db = MemoryDatabase(clock)
    job = await add_event_job(db, ACME, "reports.daily")
    await every_minute(db, job.id, "later", T0 + timedelta(minutes=10))
    metrics = CountingMetrics()
    settings = SchedulerSettings(
        worker_capacity=0, max_sleep=timedelta(minutes=30), unlistened_poll=timedelta(seconds=1)
    )
    feed = SilentFeed(listening)
    scheduler = Scheduler(
        db, RecordingPublisher(), {}, clock, settings, changes=feed, metrics=metrics
    )
    stop, ready = asyncio.Event(), asyncio.Event()
    running = asyncio.create_task(scheduler.run(stop, ready))
    try:
        async with asyncio.timeout(10):
            await ready.wait()
            await clock.until_sleeping(IDLE_SLEEPERS)
            await every_minute(db, job.id, "sooner", T0 + timedelta(seconds=2))
            for _ in range(3):
                clock.advance(timedelta(seconds=1))
                await asyncio.sleep(0)
                await clock.until_sleeping(IDLE_SLEEPERS)
        assert metrics.fired == (0 if listening else 1)
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)

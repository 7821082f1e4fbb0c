"""The scheduler process: leadership, materialiser, rescuer, relay and a worker pool,
as asyncio loops in one TaskGroup.

- Every replica runs the loops; only the lease holder materialises, rescues and relays
  (its writes are fenced by the lease epoch). Workers run on every replica.
- The materialiser sleeps until the next due fire (``next_due``), woken early by
  ``LISTEN kairos_schedules``; the relay is woken by ``LISTEN kairos_outbox``. No
  fixed-interval polling of schedules.
- ``stop`` ends the loops after their current pass; ``ready`` is set once every loop has
  started (readiness is reported only then).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

import asyncpg

from domain.errors import NotLeader
from domain.ids import WorkerId, new_id
from domain.job import TargetKind
from domain.ports import Clock, Database, EventPublisher, HolidayProvider, TargetExecutor
from domain.worker import DEFAULT_HEARTBEAT
from service import telemetry
from service.dependencies import resolve_waiting
from service.materialiser import LEADER, materialise_due
from service.relay import relay_once
from service.retention import RetentionPolicy, SystemTasks
from service.runs import rescue
from service.tzdata import replan_zone_rules
from service.worker import WorkerPool
from service.workers import sweep_silent

log = logging.getLogger("kairos.scheduler")


@dataclass
class SchedulerSettings:
    replica: str = field(default_factory=lambda: f"replica-{new_id().hex[:8]}")
    lease_ttl: timedelta = timedelta(seconds=15)
    max_sleep: timedelta = timedelta(seconds=5)
    horizon: timedelta = timedelta(milliseconds=200)
    # A fire whose dispatch time is older than this when materialised is a misfire
    # (SEMANTICS 7); younger ones are ordinary lateness (a burst's tail) and just run.
    misfire_threshold: timedelta = timedelta(seconds=60)
    # 0: the built-in pool runs only Kairos' own SYSTEM tasks (retention); tenants' runs
    # are executed by `kairos worker` processes.
    worker_capacity: int = 32
    worker_idle: timedelta = timedelta(milliseconds=25)
    # How often the built-in pool beats: it extends its leases and learns of runs it lost
    # (cancelled, replaced, taken back), which it then stops.
    worker_heartbeat: timedelta = DEFAULT_HEARTBEAT
    # The operator's cap on each tenant's running runs (KAIROS_MAX_RUNNING); None: none.
    max_running: int | None = None
    rescue_every: timedelta = timedelta(seconds=1)
    # Rows per transaction: bigger batches amortise round trips and commits in a burst.
    materialise_batch: int = 1000
    # Every tenant's system.retention (daily): ended runs older than keep_days and beyond
    # their schedule's keep_last newest go.
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    relay_batch: int = 2000


class Scheduler:
    def __init__(
        self,
        db: Database,
        publisher: EventPublisher,
        executors: Mapping[TargetKind, TargetExecutor],
        clock: Clock,
        settings: SchedulerSettings | None = None,
        *,
        listen_dsn: str | None = None,
        holidays: HolidayProvider | None = None,
    ) -> None:
        self.db = db
        self.holidays = holidays  # reads calendars' holiday sources (countries, iCal)
        self.publisher = publisher
        self.settings = settings or SchedulerSettings()
        system = {TargetKind.SYSTEM: SystemTasks(db, self.settings.retention)}
        own = self.settings.worker_capacity > 0
        self.pool = WorkerPool(
            db,
            {**executors, **system} if own else system,  # Kairos' own tasks run here always
            clock,
            capacity=self.settings.worker_capacity if own else 1,
            worker_id=WorkerId(new_id()),
            name=f"{self.settings.replica}-pool",
            idle=self.settings.worker_idle,
            heartbeat_interval=self.settings.worker_heartbeat,
            max_running=self.settings.max_running,
        )
        self.epoch: int | None = None
        self._zone_rules_checked: int | None = None  # the epoch that checked tzdata
        self._listen_dsn = listen_dsn
        self._schedules_changed = asyncio.Event()
        self._outbox_changed = asyncio.Event()
        self._runs_ready = asyncio.Event()

    @property
    def leader(self) -> bool:
        return self.epoch is not None

    async def run(self, stop: asyncio.Event, ready: asyncio.Event | None = None) -> None:
        async with contextlib.AsyncExitStack() as stack:
            if self._listen_dsn is not None:
                conn = await asyncpg.connect(self._listen_dsn)
                stack.push_async_callback(conn.close)
                await conn.add_listener("kairos_schedules", self._wake(self._schedules_changed))
                await conn.add_listener("kairos_outbox", self._wake(self._outbox_changed))
            async with asyncio.TaskGroup() as group:
                for loop in (
                    self._leadership,
                    self._materialiser,
                    self._rescuer,
                    self._relay,
                    self._workers,
                ):
                    group.create_task(self._guarded(loop, stop), name=loop.__name__)
                if ready is not None:
                    ready.set()
                await stop.wait()

    @staticmethod
    def _wake(event: asyncio.Event) -> asyncpg.connection.Listener:
        def callback(*_: object) -> None:
            event.set()

        return callback

    async def _guarded(self, loop: object, stop: asyncio.Event) -> None:
        """Run a loop until stop; an unexpected error is logged and the loop restarts
        after a pause, so one failing dependency does not take the process down."""
        assert callable(loop)
        while not stop.is_set():
            try:
                await loop(stop)
            except (OSError, asyncpg.PostgresError, ConnectionError) as exc:
                log.warning("loop %s failed: %s; retrying", getattr(loop, "__name__", loop), exc)
                await _sleep(stop, 1.0)

    async def _leadership(self, stop: asyncio.Event) -> None:
        ttl = self.settings.lease_ttl
        while not stop.is_set():
            async with self.db.system() as tx:
                epoch = await tx.leader.acquire(LEADER, self.settings.replica, ttl)
            if epoch != self.epoch:
                log.info("leadership %s -> %s", self.epoch, epoch)
                self._schedules_changed.set()
                self._outbox_changed.set()
            self.epoch = epoch
            telemetry.metrics().leader(epoch)
            await _sleep(stop, ttl.total_seconds() / 3)

    async def _materialiser(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._schedules_changed.clear()
            epoch = self.epoch
            if epoch is not None:
                try:
                    if self._zone_rules_checked != epoch:
                        # Before the first materialisation of a new leadership: stored
                        # next fires planned under other zone rules are re-planned.
                        replanned = await replan_zone_rules(
                            self.db, holder=self.settings.replica, epoch=epoch
                        )
                        self._zone_rules_checked = epoch
                        if replanned.replanned:
                            self._outbox_changed.set()
                    done = await materialise_due(
                        self.db,
                        holder=self.settings.replica,
                        epoch=epoch,
                        horizon=self.settings.horizon,
                        limit=self.settings.materialise_batch,
                        misfire_threshold=self.settings.misfire_threshold,
                        holidays=self.holidays,
                    )
                except NotLeader:
                    self.epoch = None
                    continue
                telemetry.metrics().fires(done.runs)
                if done.runs:
                    self._outbox_changed.set()
                    self._runs_ready.set()
            await self._sleep_until_due(stop)

    async def _sleep_until_due(self, stop: asyncio.Event) -> None:
        delay = self.settings.max_sleep.total_seconds()
        if self.epoch is not None:
            async with self.db.system() as tx:
                next_due = await tx.schedules.next_due()
                now = await tx.now()
            if next_due is not None:
                delay = min(delay, max(0.0, (next_due - now).total_seconds()))
        await _wait_any(stop, self._schedules_changed, delay)

    async def _rescuer(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if self.epoch is not None:
                await rescue(self.db, limit=500)
                await sweep_silent(self.db)
                if await resolve_waiting(self.db):
                    self._runs_ready.set()  # released runs are claimable
                    self._outbox_changed.set()
            await _sleep(stop, self.settings.rescue_every.total_seconds())

    async def _relay(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._outbox_changed.clear()
            if self.epoch is not None:
                try:
                    while await relay_once(
                        self.db, self.publisher, limit=self.settings.relay_batch
                    ):
                        pass
                except ConnectionError as exc:
                    log.warning("relay: %s; events stay in the outbox", exc)
                    await _sleep(stop, 1.0)
                    continue
            await _wait_any(stop, self._outbox_changed, self.settings.max_sleep.total_seconds())

    async def _workers(self, stop: asyncio.Event) -> None:
        await self.pool.run(stop, wake=self._runs_ready, on_progress=self._outbox_changed.set)


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()

"""The scheduler process: leadership, materialiser, rescuer, relay and a worker pool,
as asyncio loops in one TaskGroup.

- Every replica runs the loops; each materialises, rescues and relays the partitions it
  holds (its writes fenced by their epochs; ``service.loops.leadership``), and the
  holder of the cluster-wide lease also re-plans on a tzdata change and marks silent
  workers offline. One replica alone holds every partition. Workers run on every
  replica.
- The materialiser sleeps until the next due fire (``next_due``), woken early by the
  change feed (``domain.ports.ChangeFeed``: PostgreSQL's LISTEN, in
  ``adapters/postgres/notifications.py``) when schedules change; the relay is woken
  when the outbox changes. While the feed is not listening (none given, or it is
  reconnecting) both poll every ``unlistened_poll`` instead.
- Every pause of a loop's own (until the next fire, a poll, a renewal, the relay's
  retry, the pool's idle and heartbeat) is a sleep on the ``Clock``: a test steps the
  loops on a fake clock. The supervisor's restart backoff and the step timeouts that
  guard against a hung server stay in real time.
- ``stop`` ends the loops after their current pass; ``ready`` is set once every loop
  has completed its first pass (readiness is reported only then).
- Every loop is supervised (``service.loops.resilience``): a PostgreSQL or NATS outage
  of any length, grouped errors from a loop's own TaskGroup included, pauses the loop
  with backoff and it resumes by itself; ``loops`` says which are paused (readiness).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from domain.errors import NotLeader
from domain.ids import WorkerId, new_id
from domain.job import TargetKind
from domain.ports import (
    Change,
    ChangeFeed,
    Clock,
    Database,
    EventPublisher,
    HolidayProvider,
    InstantTarget,
    TargetExecutor,
)
from service.loops.instant import BROKER_KINDS, InstantDelivery, InstantRefused
from service.loops.leadership import Campaign, Fence, PartitionCampaign
from service.loops.materialiser import Pass, materialise_due
from service.loops.relay import relay_once
from service.loops.rescuer import rescue_once
from service.loops.resilience import Loops, Outage, supervise
from service.loops.worker_pool import POOL_HEARTBEAT, WorkerPool
from service.telemetry import NO_METRICS, Metrics
from service.usecases.retention import RetentionPolicy, SystemTasks
from service.usecases.tzdata import replan_zone_rules

log = logging.getLogger("kairos.scheduler")


@dataclass
class SchedulerSettings:
    replica: str = field(default_factory=lambda: f"replica-{new_id().hex[:8]}")
    # A frozen or partitioned leader leads until its leases expire: the ttl bounds that
    # gap. Each step renews what it holds (a renewal never waits for a pass) and steps
    # come at least every ttl/3, so a leader survives two slow renewals. A killed leader
    # is replaced sooner: its presence marks go with its session, which the others see
    # at their next poll.
    lease_ttl: timedelta = timedelta(seconds=10)
    # How often a replica steps: renews, hands over partitions to a replica that joined,
    # takes over a dead one's (docs/semantics.md, *Leadership*).
    leader_poll: timedelta = timedelta(seconds=1)
    max_sleep: timedelta = timedelta(seconds=5)
    # How often the materialiser and relay look while no change feed is listening (none
    # given, or its connection is being re-opened): they poll instead of waiting to be
    # woken.
    unlistened_poll: timedelta = timedelta(seconds=1)
    # How far ahead of a fire its pass runs: long enough that a pass of 1,000 fires is
    # written before their instant (steady 1,000 fires/s: p99 310 ms at 200 ms ahead,
    # 92 ms at 500 ms, bench/burst.py).
    horizon: timedelta = timedelta(milliseconds=500)
    # A fire whose dispatch time is older than this when materialised is a misfire
    # (docs/semantics.md, *Misfires*); younger ones are ordinary lateness (a burst's
    # tail) and just run.
    misfire_threshold: timedelta = timedelta(seconds=60)
    # 0: the built-in pool runs only Kairos' own SYSTEM tasks (retention); tenants' runs
    # are executed by `kairos worker` processes.
    worker_capacity: int = 32
    worker_idle: timedelta = timedelta(milliseconds=25)
    # How often the built-in pool beats: it extends its leases and learns of runs it lost
    # (cancelled, replaced, taken back), which it then stops.
    worker_heartbeat: timedelta = POOL_HEARTBEAT
    # The operator's cap on each tenant's running runs (KAIROS_MAX_RUNNING); None: none.
    max_running: int | None = None
    rescue_every: timedelta = timedelta(seconds=1)
    # Rows per transaction: bigger batches amortise round trips and commits in a burst.
    materialise_batch: int = 1000
    # Passes side by side while a backlog fills whole batches (a burst): one pass's
    # database round trips and commit overlap another's planning.
    materialise_concurrency: int = 2
    # Every tenant's system.retention (daily): ended runs older than keep_days and beyond
    # their schedule's keep_last newest go.
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    relay_batch: int = 2000
    # The instant path (docs/semantics.md, *Instant delivery*): the materialiser itself
    # delivers EVENT and QUEUE fires that no cap, active run or upstream holds back, in
    # the pass that makes their runs. Off: every run goes through a lease.
    instant: bool = True
    # A pass takes the fires due within this of its first one: a fire delivered at its
    # instant waits at most this long for its pass to commit (and its event).
    pass_window: timedelta = timedelta(milliseconds=50)
    # After a message was not acknowledged, fires go through leases for this long.
    instant_rest: timedelta = timedelta(seconds=5)


class Scheduler:
    def __init__(
        self,
        db: Database,
        publisher: EventPublisher,
        executors: Mapping[TargetKind, TargetExecutor],
        clock: Clock,
        settings: SchedulerSettings | None = None,
        *,
        changes: ChangeFeed | None = None,
        holidays: HolidayProvider | None = None,
        loops: Loops | None = None,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self.db = db
        self.clock = clock
        self.holidays = holidays  # reads calendars' holiday sources (countries, iCal)
        self.publisher = publisher
        self.changes = changes
        self.metrics = metrics
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
            metrics=metrics,
        )
        brokers = {
            kind: executor
            for kind, executor in executors.items()
            if kind in BROKER_KINDS and isinstance(executor, InstantTarget)
        }
        self.instant = (
            InstantDelivery(
                brokers, clock, self.pool.worker_id, max_running=self.settings.max_running
            )
            if self.settings.instant and brokers
            else None
        )
        self._instant_resumes: datetime | None = None  # resting after a refusal until
        self.epoch: int | None = None  # the cluster-wide lease's, while this replica holds it
        self.partitions: dict[int, int] = {}  # the partitions held: partition -> epoch
        self.partition_count: int | None = None  # the deployment's (read at the first step)
        self._zone_rules_checked: int | None = None  # the epoch that checked tzdata
        self._lost = asyncio.Event()  # a pass found a lease gone: step at once
        self._schedules_changed = asyncio.Event()
        self._outbox_changed = asyncio.Event()
        self._runs_ready = asyncio.Event()
        self.loops = loops or Loops()  # the loops paused by an error now (readiness)
        self._pending_first: set[str] = set()  # loops yet to complete a first pass
        self._all_ran = asyncio.Event()

    @property
    def leader(self) -> bool:
        """Whether this replica holds the cluster-wide lease."""
        return self.epoch is not None

    async def run(self, stop: asyncio.Event, ready: asyncio.Event | None = None) -> None:
        """Run every loop until ``stop``; ``ready`` is set once each has completed a
        first pass (the change feed, which only shortens waits, is not waited for)."""
        loops = (self._leadership, self._materialiser, self._rescuer, self._relay, self._workers)
        self._pending_first = {loop.__name__.lstrip("_") for loop in loops}
        self._all_ran.clear()
        async with asyncio.TaskGroup() as group:
            if self.changes is not None:
                group.create_task(self._guarded(self._changes, stop), name="changes")
            for loop in loops:
                group.create_task(self._guarded(loop, stop), name=loop.__name__)
            if ready is not None:
                group.create_task(self._report_ready(stop, ready), name="ready")
            await stop.wait()

    def _ran(self, name: str) -> None:
        """A loop completed a pass (the first one counts for readiness)."""
        if name in self._pending_first:
            self._pending_first.discard(name)
            if not self._pending_first:
                self._all_ran.set()

    async def _report_ready(self, stop: asyncio.Event, ready: asyncio.Event) -> None:
        await _first_of(stop, self._all_ran)
        if self._all_ran.is_set():
            ready.set()

    async def _changes(self, stop: asyncio.Event) -> None:
        """Follow the change feed until stop (it waits outages out itself)."""
        assert self.changes is not None
        following = asyncio.ensure_future(self.changes.follow(self._changed))
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({following, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if following.done():
                following.result()  # what ended it, for the supervisor
        finally:
            for task in (following, stopping):
                task.cancel()
            await asyncio.gather(following, stopping, return_exceptions=True)

    def _changed(self, change: Change) -> None:
        if change in ("schedules", "all"):
            self._schedules_changed.set()
        if change in ("outbox", "all"):
            self._outbox_changed.set()
        if change == "all":
            self._runs_ready.set()

    def _unwoken(self, seconds: float) -> float:
        """A wait for a change: at most ``unlistened_poll`` while no feed listens."""
        if self.changes is not None and self.changes.listening:
            return seconds
        return min(seconds, self.settings.unlistened_poll.total_seconds())

    async def _guarded(
        self, loop: Callable[[asyncio.Event], Awaitable[None]], stop: asyncio.Event
    ) -> None:
        """Run a loop until stop; any error (an outage, an ExceptionGroup of them, a
        fault) pauses it with backoff and it restarts, so no dependency's failure takes
        the process down."""
        name = getattr(loop, "__name__", "loop").lstrip("_")
        await supervise(name, lambda: loop(stop), stop, loops=self.loops, logger=log)

    async def _leadership(self, stop: asyncio.Event) -> None:
        """Every ``leader_poll`` (at most ttl/3 apart, so a lease held is renewed twice
        before it could expire): step for the cluster-wide lease and for the partitions
        (renew, hand over, take over; ``service.loops.leadership``). A step that hangs
        (a network partition) raises after the ttl, by when the leases it renews have
        expired anyway; this replica leads only while this loop runs, and a clean stop
        releases every lease for the others at once."""
        ttl = self.settings.lease_ttl
        every = min(self.settings.leader_poll.total_seconds(), ttl.total_seconds() / 3)
        try:
            async with self.db.presence() as presence:
                campaign = Campaign(presence, self.settings.replica, ttl)
                shares = PartitionCampaign(presence, self.settings.replica, ttl)
                while not stop.is_set():
                    self._lost.clear()
                    async with asyncio.timeout(ttl.total_seconds()):
                        epoch = await campaign.step()
                        held = await shares.step()
                    self.partition_count = shares.count
                    if epoch != self.epoch:
                        log.info("leadership %s -> %s", self.epoch, epoch)
                    if held != self.partitions:
                        log.info(
                            "partitions: %d held (%s); replicas %s",
                            len(held),
                            _ranges(held),
                            ", ".join(shares.members),
                        )
                    if epoch != self.epoch or held != self.partitions:
                        self._schedules_changed.set()
                        self._outbox_changed.set()
                    self.epoch = epoch
                    self.partitions = held
                    self.metrics.leader(epoch)
                    self.metrics.partitions(len(held))
                    self._ran("leadership")
                    # Waiting for a hand-over: look again soon after the giver's step.
                    await self._wait(stop, self._lost, every / 4 if shares.waiting else every)
                await shares.resign()
                await campaign.resign()
        finally:
            if self.epoch is not None:
                self.metrics.leader(None)
            self.epoch = None
            self.partitions = {}
            self.metrics.partitions(0)

    def _instant_now(self) -> InstantDelivery | None:
        """The instant path, unless it rests after a refusal."""
        if self.instant is None or self._instant_resumes is None:
            return self.instant
        if self.clock.now() < self._instant_resumes:
            return None
        self._instant_resumes = None
        return self.instant

    def _fence(self) -> Fence | None:
        """The partitions this replica's passes act under (None: it holds none)."""
        if not self.partitions or self.partition_count is None:
            return None
        return Fence.over(self.settings.replica, self.partitions, self.partition_count)

    def _cluster(self) -> Fence | None:
        """The cluster-wide lease, while this replica holds it."""
        return None if self.epoch is None else Fence.of(self.settings.replica, self.epoch)

    def _deposed(self, fence: Fence) -> None:
        """A pass found a lease of ``fence`` gone: act on none of them until the next
        step, which the leadership loop takes at once."""
        if fence.partitions:
            if self._fence() == fence:
                log.info("partitions: a pass found a lease gone; stepping now")
                self.partitions = {}
                self.metrics.partitions(0)
        elif self.epoch == fence.epoch:
            log.info("leadership %s -> None (a pass found the lease gone)", fence.epoch)
            self.epoch = None
            self.metrics.leader(None)
        self._lost.set()

    async def _materialiser(self, stop: asyncio.Event) -> None:
        passes = 1  # concurrent passes: more while a backlog fills whole batches
        while not stop.is_set():
            self._schedules_changed.clear()
            cluster = self._cluster()
            if cluster is not None and self._zone_rules_checked != cluster.epoch:
                # Before this replica's first materialisation as the cluster-wide
                # leader: stored next fires planned under other zone rules are re-planned.
                try:
                    replanned = await replan_zone_rules(
                        self.db, holder=cluster.holder, epoch=cluster.epoch
                    )
                except NotLeader:
                    self._deposed(cluster)
                    continue
                self._zone_rules_checked = cluster.epoch
                if replanned.replanned:
                    self._outbox_changed.set()
            fence = self._fence()
            idle = backlog = False
            if fence is not None:
                done, stopped = await self._passes(fence, passes)
                runs = sum(d.runs for d in done)
                self.metrics.fires(runs)
                for d in done:
                    if d.lateness:
                        self.metrics.runs_started(d.lateness)
                if runs:
                    self._outbox_changed.set()
                    self._runs_ready.set()
                # Due schedules all locked by another transaction (a deposed leader's
                # pass, until the server ends it): do not spin on them.
                if isinstance(stopped, NotLeader):
                    self._deposed(fence)
                    continue
                if isinstance(stopped, InstantRefused):
                    # Rolled back: the same pass again at once, through leases, and the
                    # instant path rests a while (the broker is refusing or away).
                    self._instant_resumes = self.clock.now() + self.settings.instant_rest
                    continue
                idle = all(d.schedules == 0 for d in done)
                backlog = any(d.schedules >= self.settings.materialise_batch for d in done)
            self._ran("materialiser")
            if backlog:
                # A burst: the next passes go side by side (their SKIP LOCKED takes
                # disjoint schedules), so one pass's database waits overlap another's
                # planning; no sleep to compute.
                passes = self.settings.materialise_concurrency
                continue
            passes = 1
            await self._sleep_until_due(stop, floor=0.1 if idle else 0.0)

    async def _passes(
        self, fence: Fence, count: int
    ) -> tuple[list[Pass], NotLeader | InstantRefused | None]:
        """``count`` materialiser passes side by side, after every one has ended: the
        passes that committed, and a NotLeader or InstantRefused that stopped another
        (the committed ones still count); any other error is raised."""
        instant = self._instant_now()

        def one() -> Awaitable[Pass]:
            return materialise_due(
                self.db,
                fence=fence,
                horizon=self.settings.horizon,
                limit=self.settings.materialise_batch,
                misfire_threshold=self.settings.misfire_threshold,
                holidays=self.holidays,
                instant=instant,
                window=self.settings.pass_window if self.instant else None,
            )

        outcomes = await asyncio.gather(*(one() for _ in range(count)), return_exceptions=True)
        done = [o for o in outcomes if isinstance(o, Pass)]
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        for kind in (NotLeader, InstantRefused):
            for error in errors:
                if isinstance(error, kind):
                    return done, error
        if errors:
            raise errors[0]
        return done, None

    async def _sleep_until_due(self, stop: asyncio.Event, *, floor: float = 0.0) -> None:
        delay = self._unwoken(self.settings.max_sleep.total_seconds())
        fence = self._fence()
        if fence is not None:
            async with self.db.system() as tx:
                next_due = await tx.schedules.next_due(fence.partitions)
                now = await tx.now()
            if next_due is not None:
                # Materialise ahead by the horizon: the pass locks and plans before the
                # fire is due (and, on the instant path, publishes at its instant).
                ahead = next_due - now - self.settings.horizon
                delay = min(delay, max(floor, ahead.total_seconds()))
        await self._wait(stop, self._schedules_changed, delay)

    async def _rescuer(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            fence, cluster = self._fence(), self._cluster()
            if fence is not None or cluster is not None:
                try:
                    done = await rescue_once(self.db, fence=fence, cluster=cluster)
                    if done.released:
                        self._runs_ready.set()  # released runs are claimable
                        self._outbox_changed.set()
                except NotLeader:
                    # Which lease was lost, the next step tells: act on none till then.
                    for lost in (fence, cluster):
                        if lost is not None:
                            self._deposed(lost)
            self._ran("rescuer")
            await self._pause(stop, self.settings.rescue_every.total_seconds())

    async def _relay(self, stop: asyncio.Event) -> None:
        relaying = Outage("relay", log, loops=self.loops)
        while not stop.is_set():
            self._outbox_changed.clear()
            fence = self._fence()
            if fence is not None:
                try:
                    while await relay_once(
                        self.db,
                        self.publisher,
                        fence=fence,
                        limit=self.settings.relay_batch,
                        metrics=self.metrics,
                    ):
                        pass
                except NotLeader:
                    self._deposed(fence)
                except ConnectionError as exc:  # events stay in the outbox
                    await self._pause(stop, relaying.failed(exc))
                    continue
                relaying.ok()
            self._ran("relay")
            delay = self._unwoken(self.settings.max_sleep.total_seconds())
            await self._wait(stop, self._outbox_changed, delay)

    async def _workers(self, stop: asyncio.Event) -> None:
        await self.pool.run(
            stop,
            wake=self._runs_ready,
            on_progress=self._outbox_changed.set,
            on_first_pass=lambda: self._ran("workers"),
        )

    async def _pause(self, stop: asyncio.Event, seconds: float) -> None:
        """Sleep ``seconds`` on the clock, or until stop."""
        await self._wait(stop, None, seconds)

    async def _wait(self, stop: asyncio.Event, wake: asyncio.Event | None, seconds: float) -> None:
        """Until stop, ``wake`` or ``seconds`` on the clock, whichever comes first."""
        await _first_of(stop, wake, asyncio.ensure_future(self.clock.sleep(seconds)))


def _ranges(partitions: Mapping[int, int]) -> str:
    """``0-3,7,9-10``: partitions held, for the log."""
    spans: list[list[int]] = []
    for p in sorted(partitions):
        if spans and spans[-1][1] == p - 1:
            spans[-1][1] = p
        else:
            spans.append([p, p])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in spans) or "none"


async def _first_of(
    stop: asyncio.Event, wake: asyncio.Event | None, other: asyncio.Future[object] | None = None
) -> None:
    """Wait for whichever comes first; the other waits are cancelled."""
    waiters: list[asyncio.Future[object]] = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waiters.append(asyncio.ensure_future(wake.wait()))
    if other is not None:
        waiters.append(other)
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()

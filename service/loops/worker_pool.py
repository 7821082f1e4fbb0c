"""The in-process worker pool: claim runs, execute them on their targets, report.

``run`` is the long-lived mode used by ``kairos serve|dev|worker``: the pool registers
as a Worker, keeps up to ``capacity`` runs in flight, claims more as slots free up,
heartbeats (extending the leases it holds; a run whose lease is gone is cancelled
locally) and, on stop, drains for ``grace`` before cancelling what is left.
``process`` claims one batch and executes it to completion (unit tests drive it with a
fake clock).

Outcomes are written shielded from cancellation (``resilience.shielded``: a stop waits
for the write, then goes on): a finished delivery is never left unrecorded because the
pool is being stopped. Every wait (idle, heartbeat, grace, retry) is on the pool's
``Clock``. The job's ``timeout`` is applied locally
too (the server's rescuer enforces it regardless).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from domain.errors import NotFound
from domain.ids import SYSTEM_TENANT, JobId, RunId, TenantId, WorkerId, new_id
from domain.job import Job, TargetKind
from domain.ports import BatchTargetExecutor, Clock, Database, TargetExecutor
from domain.run import Run
from service.loops import resilience
from service.loops.delivery import deliver
from service.telemetry import NO_METRICS, Metrics
from service.usecases import runs as use
from service.usecases import worker_registry as registry

# The built-in pools' lease and heartbeat: three beats of slack. A killed or frozen
# pool's runs come back within the lease; under overlap ``skip`` every fire of such a
# run's schedule until then is skipped, so it is kept short (external workers choose
# their own, 30 s by default, and beat every 5 s).
POOL_LEASE = timedelta(seconds=10)
POOL_HEARTBEAT = timedelta(seconds=2.5)

log = logging.getLogger("kairos.worker")

DEREGISTER_TIMEOUT = 5.0


@dataclass
class WorkerPool:
    db: Database
    executors: Mapping[TargetKind, TargetExecutor]
    clock: Clock
    capacity: int = 16
    lease: timedelta = POOL_LEASE
    worker_id: WorkerId = field(default_factory=lambda: WorkerId(new_id()))
    name: str = "kairos-pool"
    heartbeat_interval: timedelta = POOL_HEARTBEAT
    idle: timedelta = timedelta(milliseconds=25)
    grace: timedelta = timedelta(seconds=10)
    # None: serve every tenant (registered under SYSTEM_TENANT); else one tenant's runs.
    tenant_id: TenantId | None = None
    # The operator's cap on each tenant's running runs (KAIROS_MAX_RUNNING); None: none.
    max_running: int | None = None
    _inflight: dict[RunId, tuple[Run, asyncio.Task[None]]] = field(default_factory=dict)
    # Claimed and not yet recorded (being delivered, or delivered and waiting for the
    # recorder): these count against capacity and are heartbeated, so a backlog of
    # outcomes never lets leases lapse or the pool claim more than it can write back.
    _held: dict[RunId, Run] = field(default_factory=dict)
    _lost: set[RunId] = field(default_factory=set)
    _cancelling: set[RunId] = field(default_factory=set)  # asked to cancel (heartbeat)
    _slot: asyncio.Event = field(default_factory=asyncio.Event)
    _jobs: dict[JobId, Job] = field(default_factory=dict)
    _reports: asyncio.Queue[use.Report | None] = field(default_factory=asyncio.Queue)
    record_batch: int = 1000
    _abandon_at: datetime | None = None
    _recording: resilience.Outage = field(
        default_factory=lambda: resilience.Outage("recording outcomes", log)
    )
    metrics: Metrics = NO_METRICS

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset(kind.value for kind in self.executors)

    @property
    def busy(self) -> int:
        return len(self._held)

    async def process(self) -> int:
        """Claim and execute one batch, record its outcomes; returns how many ran."""
        claimed = await self._claim(self.capacity)
        groups = await asyncio.gather(
            *(self._deliver_all(runs) for runs in self._deliveries(claimed))
        )
        await self._record([report for group in groups for report in group])
        return len(claimed)

    def _deliveries(self, claimed: list[Run]) -> list[list[Run]]:
        """Units of delivery: the runs of a batch-capable target together, others alone."""
        batched: dict[str, list[Run]] = {}
        units: list[list[Run]] = []
        batchable = {
            kind.value for kind, ex in self.executors.items() if isinstance(ex, BatchTargetExecutor)
        }  # a Protocol isinstance check is slow: once per kind, not once per run
        for run in claimed:
            if run.capability in batchable:
                batched.setdefault(run.capability, []).append(run)
            else:
                units.append([run])
        return [*batched.values(), *units]

    async def run(
        self,
        stop: asyncio.Event,
        *,
        wake: asyncio.Event | None = None,
        on_progress: Callable[[], None] | None = None,
        on_first_pass: Callable[[], None] | None = None,
    ) -> None:
        """Register, work until ``stop``, drain, deregister. ``on_first_pass`` is called
        once the pool has registered and made its first claim.

        A database outage is waited out at every step (registering, claiming, beating,
        recording), never fatal: the pool claims nothing while it lasts and resumes by
        itself."""
        self._abandon_at = None
        try:
            await resilience.retrying(
                f"{self.name}: register",
                lambda: registry.register_worker(
                    self.db,
                    worker_id=self.worker_id,
                    tenant_id=self.tenant_id or SYSTEM_TENANT,
                    name=self.name,
                    capabilities=self.capabilities,
                    capacity=self.capacity,
                    heartbeat_interval=self.heartbeat_interval,
                    system=self.tenant_id is None,
                ),
                stop,
                logger=log,
            )
        except resilience.Stopped:
            return  # stopped before the database ever answered: nothing to undo
        wake = wake or asyncio.Event()
        try:
            async with asyncio.TaskGroup() as group:
                beats = group.create_task(self._beat(stop))
                recorder = group.create_task(self._recorder(on_progress))
                await self._claim_loop(stop, wake, group, on_progress, on_first_pass)
                await self._drain()
                # Outcomes still unwritten after this are given up (the database is
                # gone): their leases lapse and the rescuer retries those runs.
                self._abandon_at = self.clock.now() + self.grace
                beats.cancel()
                await self._reports.put(None)  # the recorder flushes what is left, then ends
                await recorder
        finally:
            await resilience.shielded(self._deregister())

    async def _claim_loop(
        self,
        stop: asyncio.Event,
        wake: asyncio.Event,
        group: asyncio.TaskGroup,
        on_progress: Callable[[], None] | None,
        on_first_pass: Callable[[], None] | None,
    ) -> None:
        outage = resilience.Outage(f"{self.name}: claim", log)
        while not stop.is_set():
            free = self.capacity - len(self._held)
            try:
                claimed = await self._claim(free) if free > 0 else []
            except Exception as exc:  # an outage (or a fault): claim nothing, try again
                await _first(self.clock, stop, None, outage.failed(exc))
                continue
            outage.ok()
            if on_first_pass is not None:
                on_first_pass()
                on_first_pass = None
            for runs in self._deliveries(claimed):
                task = group.create_task(self._execute(runs), name=f"run-{runs[0].id}")
                for run in runs:
                    self._inflight[run.id] = (run, task)
            if claimed and on_progress is not None:
                on_progress()  # started events are in the outbox
            if free > 0 and len(claimed) == free:
                continue  # a full batch: more may be due right now
            self._slot.clear()
            wake.clear()
            # Nothing due (or no free slot): wait for a slot, a wake-up or the poll tick.
            await _first(
                self.clock, stop, self._slot if free == 0 else wake, self.idle.total_seconds()
            )

    async def _drain(self) -> None:
        tasks = list({task for _, task in self._inflight.values()})
        if not tasks:
            return
        grace = asyncio.ensure_future(self.clock.sleep(self.grace.total_seconds()))
        finished = asyncio.ensure_future(asyncio.wait(tasks))
        try:
            await asyncio.wait({finished, grace}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            grace.cancel()
            finished.cancel()
        late = {task for task in tasks if not task.done()}
        for task in late:
            task.cancel()  # each records "worker stopped" (retried at once) as it ends
        if late:
            await asyncio.wait(late)

    async def _beat(self, stop: asyncio.Event) -> None:
        outage = resilience.Outage(f"{self.name}: heartbeat", log)
        while not stop.is_set():
            await _first(self.clock, stop, None, self.heartbeat_interval.total_seconds())
            if stop.is_set():
                return
            try:
                beat = await registry.heartbeat(
                    self.db,
                    worker_id=self.worker_id,
                    held={run_id: run.lease_secret or "" for run_id, run in self._held.items()},
                    lease=self.lease,
                    tenant_id=self.tenant_id,
                )
            except Exception as exc:  # leases run on; the next beat tries again
                outage.failed(exc)
                continue
            outage.ok()
            for run_id in beat.lost | beat.cancel:
                entry = self._inflight.get(run_id)
                if entry is not None:
                    (self._lost if run_id in beat.lost else self._cancelling).add(run_id)
                    if sum(1 for _, task in self._inflight.values() if task is entry[1]) == 1:
                        log.warning("run %s lost or cancelled; stopping it here", run_id)
                        entry[1].cancel()
                    # else it is part of a batch delivery (milliseconds): let it end; its
                    # outcome is refused by the stale lease token when recorded, or
                    # recorded as it happened (a cancel asked for too late).

    async def _deregister(self) -> None:
        # Bounded: a stop must stay quick when the database is already gone (the worker
        # is then marked offline by its missed heartbeats instead).
        try:
            async with asyncio.timeout(DEREGISTER_TIMEOUT):
                await registry.stop_worker(
                    self.db, worker_id=self.worker_id, tenant_id=self.tenant_id
                )
        except (OSError, ConnectionError, NotFound, TimeoutError) as exc:
            log.warning("could not record the worker's stop: %s", resilience.describe(exc))
        except Exception as exc:
            log.error("could not record the worker's stop", exc_info=exc)

    async def _claim(self, limit: int) -> list[Run]:
        claimed = await use.claim_batch(
            self.db,
            worker_id=self.worker_id,
            capabilities=self.capabilities,
            limit=limit,
            lease=self.lease,
            tenant_id=self.tenant_id,
            max_running=self.max_running,
        )
        self._jobs.update(claimed.jobs)
        for run in claimed.runs:
            self._held[run.id] = run
        self.metrics.pool(len(self._held), self.capacity)
        return claimed.runs

    async def _deliver_all(self, runs: list[Run]) -> list[use.Report]:
        return await deliver(self.executors, self._jobs, runs)

    async def _execute(self, runs: list[Run]) -> None:
        """``run`` mode: deliver, then queue the outcomes for the recorder's next batch."""
        if len(runs) == 1:  # this task's log lines name the run
            structlog.contextvars.bind_contextvars(
                run_id=str(runs[0].id),
                schedule_id=str(runs[0].schedule_id),
                tenant_id=runs[0].tenant_id,
            )
        try:
            reports = await self._deliver_all(runs)
        except asyncio.CancelledError:
            for run in runs:
                if run.id in self._lost:  # taken back by the server: nothing to record
                    self._held.pop(run.id, None)
                    self._slot.set()
                elif run.id in self._cancelling:  # the stop its cancel asked for
                    self._reports.put_nowait(use.Report(run, error="cancelled"))
                else:  # stopping: record it so it is retried at once
                    self._reports.put_nowait(
                        use.Report(run, error="worker stopped during the attempt")
                    )
            raise
        finally:
            for run in runs:
                self._inflight.pop(run.id, None)
                self._lost.discard(run.id)
                self._cancelling.discard(run.id)
        for report in reports:
            if report.error is not None:
                self._failed(report)
            self._reports.put_nowait(report)

    def _failed(self, report: use.Report) -> None:
        """One line per failed attempt, so a delivery that fails shows in the log."""
        run = report.run
        job = self._jobs.get(run.job_id)
        log.warning(
            "run %s of schedule %s (job %s): attempt %d/%d failed: %s",
            run.id,
            run.schedule_id,
            job.name if job is not None else run.job_id,
            run.attempt,
            run.max_attempts,
            report.error,
        )

    async def _recorder(self, on_progress: Callable[[], None] | None) -> None:
        """Write outcomes in batches: whatever arrived while the previous batch was being
        written goes into the next transaction. Ends at the ``None`` sentinel."""
        while True:
            first = await self._reports.get()
            batch = [first]
            while not self._reports.empty() and len(batch) < self.record_batch:
                batch.append(self._reports.get_nowait())
            final = None in batch
            reports = [r for r in batch if r is not None]
            await resilience.shielded(self._record(reports))
            if reports and on_progress is not None:
                on_progress()
            if final:
                return

    async def _record(self, reports: list[use.Report]) -> None:
        """Outcomes are written shielded and never lost to a transient error: retried
        until written (a run whose lease meanwhile lapsed is skipped by ``record``)."""
        outage = self._recording
        while reports:
            try:
                await use.record(self.db, reports, jobs=self._jobs, tenant_id=self.tenant_id)
            except Exception as exc:  # an outage or a fault: the outcome must not be lost
                delay = outage.failed(exc)
                if self._abandon_at is not None:
                    left = (self._abandon_at - self.clock.now()).total_seconds()
                    if left <= 0:
                        log.warning(
                            "stopping: %d outcome(s) not recorded (%s); their runs are "
                            "retried once their leases lapse",
                            len(reports),
                            resilience.describe(exc),
                        )
                        return
                    delay = min(delay, left)
                await self.clock.sleep(delay)
                continue
            outage.ok()
            for report in reports:
                self._held.pop(report.run.id, None)
            self.metrics.pool(len(self._held), self.capacity)
            self._slot.set()
            return


async def _first(
    clock: Clock, stop: asyncio.Event, other: asyncio.Event | None, seconds: float
) -> None:
    """Wait until ``stop`` or ``other`` is set, or ``seconds`` pass on ``clock``."""
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(clock.sleep(seconds))]
    if other is not None:
        waiters.append(asyncio.ensure_future(other.wait()))
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()

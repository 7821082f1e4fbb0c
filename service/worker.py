"""The in-process worker pool: claim runs, execute them on their targets, report.

``run`` is the long-lived mode used by ``kairos serve|dev|worker``: the pool registers
as a Worker, keeps up to ``capacity`` runs in flight, claims more as slots free up,
heartbeats (extending the leases it holds; a run whose lease is gone is cancelled
locally) and, on stop, drains for ``grace`` before cancelling what is left.
``process`` claims one batch and executes it to completion (unit tests drive it with a
fake clock).

Outcomes are written shielded from cancellation: a finished delivery is never left
unrecorded because the pool is being stopped. The job's ``timeout`` is applied locally
too (the server's rescuer enforces it regardless).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from domain.errors import DomainError, ExecutionFailed, LeaseLost, NotFound
from domain.ids import SYSTEM_TENANT, RunId, TenantId, WorkerId, new_id
from domain.job import TargetKind
from domain.ports import Clock, Database, TargetExecutor
from domain.run import Run
from domain.worker import DEFAULT_HEARTBEAT
from service import runs as use
from service import workers as registry

log = logging.getLogger("kairos.worker")


@dataclass
class WorkerPool:
    db: Database
    executors: Mapping[TargetKind, TargetExecutor]
    clock: Clock
    capacity: int = 16
    lease: timedelta = use.DEFAULT_LEASE
    worker_id: WorkerId = field(default_factory=lambda: WorkerId(new_id()))
    name: str = "kairos-pool"
    heartbeat_interval: timedelta = DEFAULT_HEARTBEAT
    idle: timedelta = timedelta(milliseconds=25)
    grace: timedelta = timedelta(seconds=10)
    # None: serve every tenant (registered under SYSTEM_TENANT); else one tenant's runs.
    tenant_id: TenantId | None = None
    _inflight: dict[RunId, tuple[Run, asyncio.Task[None]]] = field(default_factory=dict)
    _lost: set[RunId] = field(default_factory=set)
    _slot: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset(kind.value for kind in self.executors)

    @property
    def busy(self) -> int:
        return len(self._inflight)

    async def process(self) -> int:
        """Claim and execute one batch; returns how many runs were executed."""
        claimed = await self._claim(self.capacity)
        await asyncio.gather(*(self._execute(run) for run in claimed))
        return len(claimed)

    async def run(
        self,
        stop: asyncio.Event,
        *,
        wake: asyncio.Event | None = None,
        on_progress: Callable[[], None] | None = None,
    ) -> None:
        """Register, work until ``stop``, drain, deregister."""
        await registry.register_worker(
            self.db,
            worker_id=self.worker_id,
            tenant_id=self.tenant_id or SYSTEM_TENANT,
            name=self.name,
            capabilities=self.capabilities,
            capacity=self.capacity,
            heartbeat_interval=self.heartbeat_interval,
            system=self.tenant_id is None,
        )
        wake = wake or asyncio.Event()
        try:
            async with asyncio.TaskGroup() as group:
                beats = group.create_task(self._beat(stop))
                await self._claim_loop(stop, wake, group, on_progress)
                await self._drain()
                beats.cancel()
        finally:
            await asyncio.shield(self._deregister())

    async def _claim_loop(
        self,
        stop: asyncio.Event,
        wake: asyncio.Event,
        group: asyncio.TaskGroup,
        on_progress: Callable[[], None] | None,
    ) -> None:
        while not stop.is_set():
            free = self.capacity - len(self._inflight)
            claimed = await self._claim(free) if free > 0 else []
            for run in claimed:
                task = group.create_task(self._execute(run), name=f"run-{run.id}")
                self._inflight[run.id] = (run, task)
            if claimed and on_progress is not None:
                on_progress()
            if free > 0 and len(claimed) == free:
                continue  # a full batch: more may be due right now
            self._slot.clear()
            wake.clear()
            # Nothing due (or no free slot): wait for a slot, a wake-up or the poll tick.
            await _first(stop, self._slot if free == 0 else wake, self.idle.total_seconds())

    async def _drain(self) -> None:
        tasks = [task for _, task in self._inflight.values()]
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=self.grace.total_seconds())
        for task in late:
            task.cancel()  # each records "worker stopped" (retried at once) as it ends
        if late:
            await asyncio.wait(late)

    async def _beat(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await _first(stop, None, self.heartbeat_interval.total_seconds())
            if stop.is_set():
                return
            try:
                beat = await registry.heartbeat(
                    self.db,
                    worker_id=self.worker_id,
                    held={run_id: run.lease_token for run_id, (run, _) in self._inflight.items()},
                    lease=self.lease,
                    tenant_id=self.tenant_id,
                )
            except (OSError, ConnectionError) as exc:
                log.warning("heartbeat failed: %s", exc)
                continue
            for run_id in beat.lost:
                entry = self._inflight.get(run_id)
                if entry is not None:
                    log.warning("lease on run %s lost; cancelling it here", run_id)
                    self._lost.add(run_id)
                    entry[1].cancel()

    async def _deregister(self) -> None:
        try:
            await registry.stop_worker(self.db, worker_id=self.worker_id, tenant_id=self.tenant_id)
        except (OSError, ConnectionError, NotFound) as exc:
            log.warning("could not record the worker's stop: %s", exc)

    async def _claim(self, limit: int) -> list[Run]:
        return await use.claim(
            self.db,
            worker_id=self.worker_id,
            capabilities=self.capabilities,
            limit=limit,
            lease=self.lease,
            tenant_id=self.tenant_id,
        )

    async def _execute(self, run: Run) -> None:
        error: str | None = None
        retry_after: timedelta | None = None
        try:
            async with self.db.transaction(run.tenant_id) as tx:
                job = await tx.jobs.get(run.job_id)
            async with asyncio.timeout(job.timeout.total_seconds()):
                await self.executors[TargetKind(run.capability)].execute(run, job)
        except ExecutionFailed as exc:
            error = exc.message
            if exc.retry_after is not None:
                retry_after = timedelta(seconds=exc.retry_after)
        except TimeoutError:
            error = "TIMEOUT"
        except DomainError as exc:
            error = str(exc) or type(exc).__name__
        except asyncio.CancelledError:
            if run.id not in self._lost:
                await asyncio.shield(self._record(run, "worker stopped during the attempt", None))
            raise
        finally:
            self._inflight.pop(run.id, None)
            self._lost.discard(run.id)
            self._slot.set()
        await asyncio.shield(self._record(run, error, retry_after))

    async def _record(self, run: Run, error: str | None, retry_after: timedelta | None) -> None:
        try:
            if error is None:
                await use.complete(
                    self.db,
                    tenant_id=run.tenant_id,
                    run_id=run.id,
                    token=run.lease_token,
                    clock=self.clock,
                )
            else:
                await use.fail(
                    self.db,
                    tenant_id=run.tenant_id,
                    run_id=run.id,
                    token=run.lease_token,
                    error=error,
                    clock=self.clock,
                    retry_after=retry_after,
                )
        except (LeaseLost, NotFound):
            # The lease lapsed (rescued, maybe re-run elsewhere) or the run was removed:
            # its current holder records the outcome.
            return


async def _first(stop: asyncio.Event, other: asyncio.Event | None, seconds: float) -> None:
    """Wait until ``stop`` or ``other`` is set, or ``seconds`` pass."""
    waiters = [asyncio.ensure_future(stop.wait())]
    if other is not None:
        waiters.append(asyncio.ensure_future(other.wait()))
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()

"""The in-process worker pool: claim runs, execute them on their targets, report.

One ``process`` call claims up to the free capacity across tenants (system mode),
executes the runs concurrently and records each outcome through the run use cases.
Outcomes are written shielded from cancellation: a finished delivery is never left
unrecorded because the pool is being stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from domain.errors import DomainError, ExecutionFailed, LeaseLost, NotFound
from domain.ids import WorkerId, new_id
from domain.job import TargetKind
from domain.ports import Clock, Database, TargetExecutor
from domain.run import Run
from service import runs as use


@dataclass
class WorkerPool:
    db: Database
    executors: Mapping[TargetKind, TargetExecutor]
    clock: Clock
    capacity: int = 16
    lease: timedelta = use.DEFAULT_LEASE
    worker_id: WorkerId = field(default_factory=lambda: WorkerId(new_id()))

    async def process(self) -> int:
        """Claim and execute one batch; returns how many runs were executed."""
        claimed = await use.claim(
            self.db,
            worker_id=self.worker_id,
            capabilities=frozenset(kind.value for kind in self.executors),
            limit=self.capacity,
            lease=self.lease,
        )
        await asyncio.gather(*(self._execute(run) for run in claimed))
        return len(claimed)

    async def _execute(self, run: Run) -> None:
        error: str | None = None
        retry_after: timedelta | None = None
        try:
            async with self.db.transaction(run.tenant_id) as tx:
                job = await tx.jobs.get(run.job_id)
            await self.executors[TargetKind(run.capability)].execute(run, job)
        except ExecutionFailed as exc:
            error = exc.message
            if exc.retry_after is not None:
                retry_after = timedelta(seconds=exc.retry_after)
        except (DomainError, TimeoutError) as exc:
            error = str(exc) or type(exc).__name__
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

"""Worker registry use cases: register, heartbeat (extends the worker's leases), stop,
and the leader's sweep that marks silent workers offline (docs/semantics.md, *Workers*).

A worker belongs to a tenant; the built-in pools (``kairos serve``/``dev``/``worker``)
serve every tenant and are registered under ``SYSTEM_TENANT``. Their unit of work is
the system one (``tenant_id=None``), since the runs they hold belong to many tenants.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import timedelta

from domain.errors import LeaseLost
from domain.events import DomainEvent
from domain.ids import RunId, TenantId, WorkerId
from domain.ports import Database, Keyset, UnitOfWork
from domain.run import Run
from domain.worker import DEFAULT_HEARTBEAT, Worker, WorkerState
from service import telemetry
from service.loops.leadership import Fence, fenced


def _scope(db: Database, tenant_id: TenantId | None) -> AbstractAsyncContextManager[UnitOfWork]:
    return db.system() if tenant_id is None else db.transaction(tenant_id)


async def register_worker(
    db: Database,
    *,
    worker_id: WorkerId,
    tenant_id: TenantId,
    name: str,
    capabilities: frozenset[str],
    capacity: int,
    version: str = "",
    heartbeat_interval: timedelta = DEFAULT_HEARTBEAT,
    system: bool = False,
    labels: Mapping[str, str] | None = None,
) -> Worker:
    async with _scope(db, None if system else tenant_id) as tx:
        worker, events = Worker.register(
            now=await tx.now(),
            id=worker_id,
            tenant_id=tenant_id,
            name=name,
            capabilities=capabilities,
            capacity=capacity,
            version=version,
            heartbeat_interval=heartbeat_interval,
            labels=dict(labels or {}),
        )
        await tx.workers.save(worker)
        await tx.outbox.append(events, traceparent=telemetry.current_traceparent())
        return worker


@dataclass(frozen=True, slots=True)
class Beat:
    worker: Worker
    lost: frozenset[RunId]  # held runs whose lease is gone: stop working on them
    # Held runs whose cancel was asked for: stop them and report the stop (``fail``);
    # their leases are no longer extended.
    cancel: frozenset[RunId] = frozenset()

    @property
    def drain(self) -> bool:
        """Finish what is held, claim nothing more, then stop."""
        return self.worker.state is WorkerState.DRAINING


async def heartbeat(
    db: Database,
    *,
    worker_id: WorkerId,
    held: Mapping[RunId, str],
    lease: timedelta,
    tenant_id: TenantId | None,
) -> Beat:
    """Record a beat and extend the lease of every run the worker holds (``run id ->
    lease token``) to ``now + lease``. A run whose token is wrong or stale, whose lease
    is another worker's, or that ended (timed out, cancelled, taken back), is reported
    lost rather than failing the beat, and is not touched."""
    async with _scope(db, tenant_id) as tx:
        now = await tx.now()
        worker, events = (await tx.workers.get(worker_id)).heartbeat(now=now)
        await tx.workers.save(worker)
        await tx.outbox.append(events, traceparent=telemetry.current_traceparent())
        current = {run.id: run for run in await tx.runs.get_many(list(held), lock=True)}
        extended: list[Run] = []
        lost: set[RunId] = set(held) - set(current)
        cancel: set[RunId] = set()
        for run_id, run in current.items():
            try:
                fence = run.held_by(worker_id=worker_id, secret=held[run_id])
                longer = run.extend(token=fence, lease_until=now + lease)
            except LeaseLost:
                lost.add(run_id)
                continue
            if run.cancel_requested is not None:
                cancel.add(run_id)  # told to stop; the lease runs out if it does not
            else:
                extended.append(longer)
        await tx.runs.save_many(extended)
        return Beat(worker, frozenset(lost), frozenset(cancel))


async def drain_worker(db: Database, *, tenant_id: TenantId, worker_id: WorkerId) -> Worker:
    """Ask a worker to finish what it holds and take nothing more (its next heartbeat
    answer says so; its claims answer nothing)."""
    async with db.transaction(tenant_id) as tx:
        worker = await tx.workers.get(worker_id)
        draining = worker.drain()
        if draining != worker:
            await tx.workers.save(draining)
        return draining


async def get_worker(db: Database, *, tenant_id: TenantId, worker_id: WorkerId) -> Worker:
    async with db.transaction(tenant_id) as tx:
        return await tx.workers.get(worker_id)


async def list_workers(
    db: Database, *, tenant_id: TenantId, after: Keyset | None, limit: int
) -> Sequence[Worker]:
    async with db.transaction(tenant_id) as tx:
        return await tx.workers.list(after=after, limit=limit)


async def workers_named(db: Database, *, tenant_id: TenantId, name: str) -> Sequence[Worker]:
    """The tenant's workers called exactly ``name`` (several processes may share one),
    read page by page."""
    found: list[Worker] = []
    after: Keyset | None = None
    async with db.transaction(tenant_id) as tx:
        while True:
            batch = await tx.workers.list(after=after, limit=500)
            found += [w for w in batch if w.name == name]
            if len(batch) < 500:
                return found
            after = (batch[-1].registered_at, batch[-1].id)


async def stop_worker(db: Database, *, worker_id: WorkerId, tenant_id: TenantId | None) -> None:
    """A clean shutdown: offline now (``scheduler.worker.offline``), not after 3 beats."""
    async with _scope(db, tenant_id) as tx:
        worker, events = (await tx.workers.get(worker_id)).stop(now=await tx.now())
        await tx.workers.save(worker)
        await tx.outbox.append(events, traceparent=telemetry.current_traceparent())


async def sweep_silent(db: Database, *, fence: Fence, limit: int = 100) -> list[Worker]:
    """The leader marks workers offline after missed heartbeats. Their runs are not
    touched here: the rescuer takes them back when their leases lapse. ``NotLeader``,
    and nothing marked, when ``fence`` no longer leads."""
    async with fenced(db, fence) as tx:
        now = await tx.now()
        gone: list[Worker] = []
        events: list[DomainEvent] = []
        for worker in await tx.workers.silent(now, limit):
            offline, more = worker.mark_offline(now=now)
            await tx.workers.save(offline)
            gone.append(offline)
            events += more
        await tx.outbox.append(events, traceparent=telemetry.current_traceparent())
        return gone

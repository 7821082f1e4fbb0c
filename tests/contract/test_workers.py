"""The worker registry contract (memory and PostgreSQL), driven through its use cases."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import NotFound
from domain.ids import SYSTEM_TENANT, TenantId, WorkerId
from domain.worker import Worker, WorkerState
from service.usecases import runs as use
from service.usecases import worker_registry as registry
from tests.builders import ACME, GLOBEX, job, leading
from tests.contract.support import Subject
from tests.contract.test_run_queue import fire, seed

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


async def register(subject: Subject, name: str, *, tenant: TenantId = ACME) -> Worker:
    return await registry.register_worker(
        subject.db,
        worker_id=WorkerId(uuid.uuid4()),
        tenant_id=tenant,
        name=name,
        capabilities=frozenset({"EVENT", "reports.generate"}),
        capacity=8,
        version="1.2.3",
    )


async def test_registration_round_trips_and_stays_in_its_tenant(subject: Subject) -> None:
    """A registered worker reads back field for field; another tenant cannot see it."""
    worker = await register(subject, "w1")
    async with subject.db.transaction(ACME) as tx:
        stored = await tx.workers.get(worker.id)
    assert stored == worker
    async with subject.db.transaction(GLOBEX) as tx:
        with pytest.raises(NotFound):
            await tx.workers.get(worker.id)
    events = await subject.committed_events()
    assert len(events) == 1


async def test_silent_workers_go_offline_once(subject: Subject) -> None:
    """The sweep marks only workers past 3 missed beats offline, once, with an event."""
    quiet = await register(subject, "quiet")
    lively = await register(subject, "lively")
    async with subject.db.transaction(ACME) as tx:
        await tx.workers.save(replace(quiet, last_heartbeat_at=LONG_AGO))
    before = len(await subject.committed_events())
    gone = await registry.sweep_silent(subject.system, fence=await leading(subject.system))
    assert [w.id for w in gone] == [quiet.id]
    assert gone[0].state is WorkerState.OFFLINE
    assert await registry.sweep_silent(subject.system, fence=await leading(subject.system)) == []
    assert len(await subject.committed_events()) == before + 1
    async with subject.db.transaction(ACME) as tx:
        assert (await tx.workers.get(lively.id)).state is WorkerState.ONLINE


async def test_heartbeat_extends_held_leases_and_reports_lost_ones(subject: Subject) -> None:
    """Leases held with the current token move out; a wrong token comes back as lost."""
    worker = await register(subject, "w1")
    j = job()
    runs = [fire(j), fire(j)]
    await seed(subject, j, runs)
    claimed = await use.claim(
        subject.db,
        worker_id=worker.id,
        capabilities=worker.capabilities,
        limit=2,
        lease=timedelta(seconds=5),
        tenant_id=ACME,
    )
    kept, stale = claimed
    beat = await registry.heartbeat(
        subject.db,
        worker_id=worker.id,
        held={kept.id: kept.lease_secret or "", stale.id: "f" * 32},
        lease=timedelta(minutes=10),
        tenant_id=ACME,
    )
    assert beat.lost == {stale.id}
    assert beat.worker.beats == 1
    async with subject.db.transaction(ACME) as tx:
        extended = await tx.runs.get(kept.id)
        untouched = await tx.runs.get(stale.id)
    assert extended.lease_until is not None
    assert kept.lease_until is not None
    assert extended.lease_until - kept.lease_until > timedelta(minutes=9)
    assert untouched.lease_until == stale.lease_until


async def test_builtin_pool_registers_under_the_system_tenant(subject: Subject) -> None:
    """A system pool's worker is stored and stopped under SYSTEM_TENANT, with events."""
    worker = await registry.register_worker(
        subject.system,
        worker_id=WorkerId(uuid.uuid4()),
        tenant_id=SYSTEM_TENANT,
        name="pool",
        capabilities=frozenset({"EVENT"}),
        capacity=4,
        system=True,
    )
    await registry.stop_worker(subject.system, worker_id=worker.id, tenant_id=None)
    async with subject.system.system() as tx:
        stopped = await tx.workers.get(worker.id)
    assert stopped.state is WorkerState.OFFLINE
    async with subject.db.transaction(ACME) as tx:
        with pytest.raises(NotFound):
            await tx.workers.get(worker.id)
    assert len(await subject.committed_events()) == 2

"""An external worker's capacity under concurrent claims, and priority when short."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from domain.ids import TenantId, WorkerId, new_id
from domain.job import Priority
from domain.worker import Worker
from service.usecases import runs as use
from tests.builders import ACME, job
from tests.contract.support import Subject
from tests.contract.test_run_queue import PAST, fire, seed


async def registered(subject: Subject, capacity: int) -> WorkerId:
    worker_id = WorkerId(new_id())
    async with subject.db.transaction(ACME) as tx:
        worker, _ = Worker.register(
            now=await tx.now(),
            id=worker_id,
            tenant_id=TenantId(ACME),
            name="external",
            capabilities=frozenset({"EVENT"}),
            capacity=capacity,
        )
        await tx.workers.save(worker)
    return worker_id


async def test_concurrent_claims_never_exceed_the_workers_capacity(subject: Subject) -> None:
    """Six claims at once for a worker of capacity 3 with ten runs due: 3 claimed in
    all, and the critical runs among them first."""
    j = replace(job(), max_concurrency=None)  # only the worker's capacity limits here
    urgent = [fire(j, at=PAST + timedelta(seconds=i), priority=Priority.CRITICAL) for i in range(2)]
    routine = [fire(j, at=PAST - timedelta(seconds=i + 1), priority=Priority.LOW) for i in range(8)]
    await seed(subject, j, [*urgent, *routine])
    worker_id = await registered(subject, capacity=3)
    answers = await asyncio.gather(
        *(
            use.claim_for_worker(subject.db, tenant_id=ACME, worker_id=worker_id, limit=3)
            for _ in range(6)
        )
    )
    claimed = [run for answer in answers if answer is not None for run in answer.runs]
    assert len(claimed) == 3
    assert {r.id for r in urgent} <= {r.id for r in claimed}
    async with subject.db.transaction(ACME) as tx:
        assert await tx.runs.held_by(worker_id) == 3


async def test_the_jobs_limit_holds_below_the_workers_capacity(subject: Subject) -> None:
    """A job with max_concurrency 2 and a worker of capacity 5: 2 run, the rest wait."""
    j = job()  # max_concurrency=2
    await seed(subject, j, [fire(j, at=PAST - timedelta(seconds=i)) for i in range(5)])
    worker_id = await registered(subject, capacity=5)
    answers = await asyncio.gather(
        *(
            use.claim_for_worker(subject.db, tenant_id=ACME, worker_id=worker_id, limit=5)
            for _ in range(3)
        )
    )
    assert sum(len(a.runs) for a in answers if a is not None) == 2

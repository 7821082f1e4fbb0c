"""The usage reader (memory and PostgreSQL): counts per tenant, scoped by RLS."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

from domain.ids import SYSTEM_TENANT, WorkerId
from domain.schedule import ScheduleState
from domain.usage import TenantUsage
from domain.worker import Worker
from service.usecases import runs as use
from service.usecases.retention import ensure_retention
from tests.builders import ACME, GLOBEX, T0, job, schedule
from tests.contract.support import Subject
from tests.contract.test_run_queue import PAST, fire, seed


async def test_usage_counts_each_tenants_own_and_rls_scopes_it(subject: Subject) -> None:
    """acme: 3 schedules (1 paused, 1 deleted), its retention schedule and system job
    left out, 1 running, 2 queued, 1 ended; globex: 1 queued. A tenant's transaction
    sees its own row only; a system one sees both, never the system tenant."""
    acme_job, globex_job = replace(job(ACME), max_concurrency=None), job(GLOBEX)
    await seed(subject, acme_job, [fire(acme_job) for _ in range(4)])
    await seed(subject, globex_job, [fire(globex_job)])
    async with subject.db.transaction(ACME) as tx:
        for name, state in [("a", None), ("b", ScheduleState.PAUSED), ("c", "deleted")]:
            s = schedule(acme_job.id, ACME, name)
            if state is ScheduleState.PAUSED:
                s = replace(s, state=ScheduleState.PAUSED)
            await tx.schedules.add(s)
            if state == "deleted":
                deleted, _ = s.delete(now=T0)
                await tx.schedules.save(deleted, expected_version=s.version)
        await ensure_retention(tx, ACME, T0)
        worker, _ = Worker.register(
            now=await tx.now(),
            id=WorkerId(uuid.uuid4()),
            tenant_id=ACME,
            name="w",
            capabilities=frozenset({"EVENT"}),
            capacity=2,
        )
        await tx.workers.save(worker)
    claimed = await use.claim(
        subject.db,
        worker_id=WorkerId(uuid.uuid4()),
        capabilities=frozenset({"EVENT"}),
        limit=2,
        tenant_id=ACME,
    )
    done, _ = claimed[0].succeed(token=claimed[0].lease_token, now=PAST + timedelta(days=1))
    async with subject.db.transaction(ACME) as tx:
        await tx.runs.save_many([done])
    expected_acme = TenantUsage(
        tenant_id=ACME,
        schedules=2,
        enabled=1,
        jobs=1,
        running=1,
        queued=2,
        workers=1,
        ended={"succeeded": 1},
    )
    async with subject.db.transaction(ACME) as tx:
        assert list(await tx.usage.usage(PAST)) == [expected_acme]
    async with subject.db.transaction(GLOBEX) as tx:
        assert list(await tx.usage.usage(PAST)) == [TenantUsage(tenant_id=GLOBEX, jobs=1, queued=1)]
    async with subject.system.system() as tx:
        every = list(await tx.usage.usage(PAST))
        later = list(await tx.usage.usage(PAST + timedelta(days=2)))
    assert [u.tenant_id for u in every] == [ACME, GLOBEX]
    assert SYSTEM_TENANT not in {u.tenant_id for u in every}
    assert every[0] == expected_acme
    assert later[0].ended == {}  # ended before the window's start

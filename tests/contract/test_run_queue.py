"""The run queue contract (memory and PostgreSQL), driven through the run use cases."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from adapters.clock import SystemClock
from domain.errors import LeaseLost, NotFound
from domain.events import DomainEvent, EventType
from domain.ids import ScheduleId, TenantId, WorkerId
from domain.job import Job, Priority
from domain.ports import RunFilter
from domain.run import NewRun, Outcome, Run, RunStatus
from service.usecases import runs as use
from tests.builders import ACME, GLOBEX, job, leading
from tests.contract.support import Subject

PAST = datetime(2020, 1, 1, tzinfo=UTC)
FUTURE = datetime(2100, 1, 1, tzinfo=UTC)
W1 = WorkerId(uuid.UUID(int=1))
W2 = WorkerId(uuid.UUID(int=2))
CLOCK = SystemClock()


def fire(
    j: Job,
    *,
    at: datetime = PAST,
    priority: Priority = Priority.NORMAL,
    capability: str = "EVENT",
    schedule: ScheduleId | None = None,
    nominal: datetime | None = None,
) -> Run:
    run, _ = Run.dispatched(
        NewRun(
            tenant_id=j.tenant_id,
            schedule_id=schedule or ScheduleId(uuid.uuid4()),
            job_id=j.id,
            nominal_at=nominal or at,
            dispatch_at=at,
            max_attempts=j.max_attempts,
            priority=priority,
            capability=capability,
            payload={"n": 1},
        ),
        now=PAST,
    )
    return run


async def seed(subject: Subject, j: Job, runs: list[Run]) -> None:
    async with subject.db.transaction(j.tenant_id) as tx:
        try:
            await tx.jobs.get(j.id)
        except NotFound:
            await tx.jobs.add(j)
        assert await tx.runs.add_many(runs) == len(runs)


async def test_materialising_a_fire_twice_is_a_no_op(subject: Subject) -> None:
    """add_many ignores runs whose (tenant, schedule, nominal) key exists."""
    j = job()
    schedule_id = ScheduleId(uuid.uuid4())
    first = fire(j, schedule=schedule_id, nominal=PAST)
    await seed(subject, j, [first])
    again = fire(j, schedule=schedule_id, nominal=PAST)
    other = fire(j, schedule=schedule_id, nominal=PAST + timedelta(minutes=1))
    async with subject.db.transaction(ACME) as tx:
        assert await tx.runs.add_many([again, other]) == 1
        assert await tx.runs.get(first.id) == first


def unlimited(tenant: TenantId = ACME, name: str = "unlimited") -> Job:
    """A job without max_concurrency (the claim tests below are about order alone)."""
    return replace(job(tenant, name), max_concurrency=None)


async def test_claim_orders_by_priority_then_dispatch_and_filters(subject: Subject) -> None:
    """Highest priority first, then oldest dispatch; future and other capabilities wait."""
    j = unlimited()
    low_old = fire(j, at=PAST, priority=Priority.LOW)
    high_new = fire(j, at=PAST + timedelta(hours=1), priority=Priority.HIGH)
    high_old = fire(j, at=PAST, priority=Priority.HIGH)
    critical = fire(j, at=PAST + timedelta(days=1), priority=Priority.CRITICAL)
    later = fire(j, at=FUTURE, priority=Priority.CRITICAL)
    http = fire(j, capability="HTTP", priority=Priority.CRITICAL)
    await seed(subject, j, [low_old, high_new, high_old, critical, later, http])
    got = await use.claim(
        subject.db, worker_id=W1, capabilities=frozenset({"EVENT"}), limit=3, tenant_id=ACME
    )
    assert [r.id for r in got] == [critical.id, high_old.id, high_new.id]
    assert all(r.status is RunStatus.RUNNING and r.attempt == 1 for r in got)
    rest = await use.claim(
        subject.db, worker_id=W1, capabilities=frozenset({"EVENT"}), limit=10, tenant_id=ACME
    )
    assert [r.id for r in rest] == [low_old.id]


async def test_tokens_grow_and_timeouts_come_from_the_job(subject: Subject) -> None:
    """Each claim gets a larger fencing token; timeout_at = start + job timeout."""
    j = job()
    a, b = fire(j), fire(j)
    await seed(subject, j, [a, b])
    first = await use.claim(
        subject.db, worker_id=W1, capabilities=frozenset({"EVENT"}), limit=1, tenant_id=ACME
    )
    second = await use.claim(
        subject.db, worker_id=W1, capabilities=frozenset({"EVENT"}), limit=1, tenant_id=ACME
    )
    assert second[0].lease_token > first[0].lease_token > 0
    run = first[0]
    assert run.timeout_at is not None
    assert run.lease_until is not None
    assert run.timeout_at - run.attempts[-1].started_at == j.timeout


async def test_concurrent_claims_never_share_a_run(subject: Subject) -> None:
    """Four workers claiming at once get disjoint runs that cover the queue."""
    j = unlimited()
    runs = [fire(j) for _ in range(40)]
    await seed(subject, j, runs)
    batches = await asyncio.gather(
        *(
            use.claim(
                subject.system,
                worker_id=WorkerId(uuid.UUID(int=10 + i)),
                capabilities=frozenset({"EVENT"}),
                limit=15,
            )
            for i in range(4)
        )
    )
    claimed = [r.id for batch in batches for r in batch]
    assert len(claimed) == len(set(claimed)) == 40


async def test_tenant_claims_see_only_their_tenant_and_system_sees_all(subject: Subject) -> None:
    """A tenant-scoped worker never gets another tenant's run; the system pool gets both."""
    acme_job, globex_job = job(ACME), job(GLOBEX)
    acme_run, globex_run = fire(acme_job), fire(globex_job)
    await seed(subject, acme_job, [acme_run])
    await seed(subject, globex_job, [globex_run])
    mine = await use.claim(
        subject.db, worker_id=W1, capabilities=frozenset({"EVENT"}), limit=10, tenant_id=GLOBEX
    )
    assert [r.id for r in mine] == [globex_run.id]
    everything = await use.claim(
        subject.system, worker_id=W2, capabilities=frozenset({"EVENT"}), limit=10
    )
    assert [r.tenant_id for r in everything] == [ACME]


async def test_complete_fail_retry_dead_and_events(subject: Subject) -> None:
    """succeed ends it; fail retries after backoff until max_attempts, then dead."""
    j = job()  # max_attempts=5
    run = fire(j)
    await seed(subject, j, [run])
    caps = frozenset({"EVENT"})
    for attempt in range(1, 6):
        (claimed,) = await use.claim(
            subject.db, worker_id=W1, capabilities=caps, limit=1, tenant_id=ACME
        )
        assert claimed.attempt == attempt
        assert claimed.lease_secret is not None
        failed = await use.fail(
            subject.db,
            tenant_id=ACME,
            run_id=run.id,
            token=claimed.lease_secret,
            error=f"boom {attempt}",
            unit=lambda: 0.0,  # no backoff: immediately claimable again
        )
    assert failed.status is RunStatus.DEAD
    async with subject.db.transaction(ACME) as tx:
        stored = await tx.runs.get(run.id)
    assert stored.status is RunStatus.DEAD
    assert [a.outcome for a in stored.attempts] == [Outcome.FAILED] * 5
    assert stored.attempts[-1].error == "boom 5"
    other = fire(j)
    await seed(subject, j, [other])
    (claimed,) = await use.claim(
        subject.db, worker_id=W1, capabilities=caps, limit=1, tenant_id=ACME
    )
    assert claimed.lease_secret is not None
    done = await use.complete(
        subject.db, tenant_id=ACME, run_id=other.id, token=claimed.lease_secret
    )
    assert done.status is RunStatus.SUCCEEDED


async def test_stale_tokens_are_refused(subject: Subject) -> None:
    """A completion with an old token is LeaseLost, in the domain and in storage."""
    j = job()
    run = fire(j)
    await seed(subject, j, [run])
    await use.claim(
        subject.db, worker_id=W1, capabilities=frozenset({"EVENT"}), limit=1, tenant_id=ACME
    )
    with pytest.raises(LeaseLost):
        await use.complete(
            subject.db,
            tenant_id=ACME,
            run_id=run.id,
            token="0" * 32,
        )
    stale = Run.dispatched(
        NewRun(
            tenant_id=ACME,
            schedule_id=run.schedule_id,
            job_id=j.id,
            nominal_at=run.nominal_at,
            dispatch_at=run.dispatch_at,
            max_attempts=1,
            priority=Priority.NORMAL,
            capability="EVENT",
        ),
        now=PAST,
    )[0]
    with pytest.raises(LeaseLost):
        async with subject.db.transaction(ACME) as tx:
            await tx.runs.save_many([stale])  # token 0 < stored token


async def test_rescuer_takes_back_lapsed_leases(subject: Subject) -> None:
    """A run whose lease lapsed goes back to pending with a failed attempt and an event."""
    j = job()
    run = fire(j)
    await seed(subject, j, [run])
    (claimed,) = await use.claim(
        subject.db,
        worker_id=W1,
        capabilities=frozenset({"EVENT"}),
        limit=1,
        tenant_id=ACME,
        lease=timedelta(milliseconds=-1),  # already lapsed: no sleeping in tests
    )
    taken = await use.rescue(
        subject.system, fence=await leading(subject.system), limit=10, unit=lambda: 0.0
    )
    assert [r.id for r in taken] == [claimed.id]
    async with subject.db.transaction(ACME) as tx:
        stored = await tx.runs.get(run.id)
    assert (stored.status, stored.attempt) == (RunStatus.PENDING, 1)
    assert stored.attempts[-1].outcome is Outcome.LEASE_EXPIRED
    (again,) = await use.claim(
        subject.db, worker_id=W2, capabilities=frozenset({"EVENT"}), limit=1, tenant_id=ACME
    )
    assert (again.attempt, again.worker_id) == (2, W2)
    assert again.lease_token > claimed.lease_token
    types = await subject.committed_events()
    assert len(types) == len(set(types))


async def test_claim_emits_started_events(subject: Subject) -> None:
    """Each claimed run emits scheduler.run.started in the same transaction."""
    j = unlimited()
    runs = [fire(j) for _ in range(3)]
    await seed(subject, j, runs)
    before = len(await subject.committed_events())
    claimed = await use.claim(
        subject.db, worker_id=W1, capabilities=frozenset({"EVENT"}), limit=10, tenant_id=ACME
    )
    assert len(claimed) == 3
    after = await subject.committed_events()
    assert len(after) == before + 3
    expected = {
        DomainEvent.of(
            EventType.RUN_STARTED,
            tenant_id=ACME,
            aggregate_id=r.id,
            revision=1,
            occurred_at=r.updated_at,
        ).id
        for r in claimed
    }
    assert set(after[before:]) == expected


async def test_listing_filters_and_pages_newest_first(subject: Subject) -> None:
    """Runs list by nominal time descending, filtered, and keyset pages cover all once."""
    j = job()
    sched = ScheduleId(uuid.uuid4())
    runs = [fire(j, schedule=sched, at=PAST + timedelta(minutes=i)) for i in range(5)]
    other = fire(j, at=PAST + timedelta(minutes=10))
    await seed(subject, j, [*runs, other])
    await use.claim(
        subject.db, worker_id=W1, capabilities=frozenset({"EVENT"}), limit=1, tenant_id=ACME
    )  # the oldest of the six is running now
    where = RunFilter(schedule_id=sched)
    seen: list[Run] = []
    after = None
    while True:
        async with subject.db.transaction(ACME) as tx:
            page = await tx.runs.list(where, after=after, limit=2)
        seen += page
        if len(page) < 2:
            break
        after = (page[-1].nominal_at, page[-1].id)
    assert [r.id for r in seen] == [r.id for r in reversed(runs)]
    async with subject.db.transaction(ACME) as tx:
        running = await tx.runs.list(
            RunFilter(statuses=frozenset({RunStatus.RUNNING})), after=None, limit=10
        )
        window = await tx.runs.list(
            RunFilter(
                nominal_from=PAST + timedelta(minutes=1), nominal_to=PAST + timedelta(minutes=3)
            ),
            after=None,
            limit=10,
        )
    assert [r.id for r in running] == [runs[0].id]
    assert [r.id for r in window] == [runs[2].id, runs[1].id]
    async with subject.db.transaction(GLOBEX) as tx:
        assert await tx.runs.list(RunFilter(), after=None, limit=10) == []


async def test_a_manual_retry_persists_its_new_budget(subject: Subject) -> None:
    """retry_run on a dead run stores pending with max_attempts = attempt + job's."""
    j = replace(job(), max_attempts=1)
    run = fire(j)
    await seed(subject, j, [run])
    (claimed,) = await use.claim(
        subject.db, worker_id=W1, capabilities=frozenset({"EVENT"}), limit=1, tenant_id=ACME
    )
    assert claimed.lease_secret is not None
    await use.fail(subject.db, tenant_id=ACME, run_id=run.id, token=claimed.lease_secret, error="x")
    retried = await use.retry_run(subject.db, tenant_id=ACME, run_id=run.id)
    async with subject.db.transaction(ACME) as tx:
        stored = await tx.runs.get(run.id)
    assert (
        (stored.status, stored.max_attempts)
        == (RunStatus.PENDING, 2)
        == (
            retried.status,
            retried.max_attempts,
        )
    )


async def test_a_job_never_runs_more_than_its_max_concurrency(subject: Subject) -> None:
    """max_concurrency 2, 10 due runs, 4 workers claiming at once: 2 start; the rest wait
    (and do not block another job's run), and one more starts when one ends."""
    limited, other = job(), unlimited()
    assert limited.max_concurrency == 2
    await seed(subject, limited, [fire(limited) for _ in range(10)])
    free = fire(other, priority=Priority.LOW)
    await seed(subject, other, [free])
    batches = await asyncio.gather(
        *(
            use.claim(
                subject.system,
                worker_id=WorkerId(uuid.UUID(int=20 + i)),
                capabilities=frozenset({"EVENT"}),
                limit=5,
            )
            for i in range(4)
        )
    )
    claimed = [r for batch in batches for r in batch]
    assert sorted(r.job_id == limited.id for r in claimed) == [False, True, True]
    assert (
        await use.claim(subject.system, worker_id=W1, capabilities=frozenset({"EVENT"}), limit=5)
        == []
    )
    done = next(r for r in claimed if r.job_id == limited.id)
    async with subject.system.system() as tx:
        finished, _ = done.succeed(token=done.lease_token, now=await tx.now())
        await tx.runs.save_many([finished])
    again = await use.claim(
        subject.system, worker_id=W1, capabilities=frozenset({"EVENT"}), limit=5
    )
    assert [r.job_id for r in again] == [limited.id]


async def test_a_tenant_never_runs_more_than_the_operators_cap(subject: Subject) -> None:
    """Cap 3 per tenant; acme has 8 critical runs due, globex 2 low ones; 4 claimers at
    once: acme gets exactly 3 and globex is not starved behind acme's backlog. When one
    of acme's ends, one more of acme's starts, and never a fourth at once."""
    acme, globex = unlimited(ACME), unlimited(GLOBEX)
    await seed(subject, acme, [fire(acme, priority=Priority.CRITICAL) for _ in range(8)])
    await seed(subject, globex, [fire(globex, priority=Priority.LOW) for _ in range(2)])

    async def claim(worker: int, limit: int = 4) -> list[Run]:
        return await use.claim(
            subject.system,
            worker_id=WorkerId(uuid.UUID(int=worker)),
            capabilities=frozenset({"EVENT"}),
            limit=limit,
            max_running=3,
        )

    batches = await asyncio.gather(*(claim(30 + i) for i in range(4)))
    claimed = [r for batch in batches for r in batch]
    assert sorted(r.tenant_id for r in claimed) == [ACME] * 3 + [GLOBEX] * 2
    assert await claim(40, limit=10) == []
    done = next(r for r in claimed if r.tenant_id == ACME)
    async with subject.system.system() as tx:
        finished, _ = done.succeed(token=done.lease_token, now=await tx.now())
        await tx.runs.save_many([finished])
    again = await asyncio.gather(claim(41), claim(42))
    assert [r.tenant_id for batch in again for r in batch] == [ACME]
    async with subject.system.system() as tx:
        assert await tx.runs.running_by_tenant([ACME, GLOBEX]) == {ACME: 3, GLOBEX: 2}


async def test_a_run_delivered_on_the_instant_path_keeps_its_attempt_in_its_row(
    subject: Subject,
) -> None:
    """Written once, already succeeded: every read gives back its one attempt (worker,
    start, end, outcome), with no attempts row of its own, and it is never claimable."""
    j = unlimited()
    delivered, events = fire(j).deliver_instantly(worker_id=W1, started_at=PAST)
    assert [e.type for e in events] == [EventType.RUN_SUCCEEDED]
    await seed(subject, j, [delivered])
    async with subject.db.transaction(ACME) as tx:
        got = await tx.runs.get(delivered.id)
        (current,) = await tx.runs.get_many([delivered.id], current_attempt=True)
    assert got == delivered
    assert current.attempts == delivered.attempts
    (attempt,) = got.attempts
    assert (attempt.number, attempt.worker_id, attempt.outcome) == (1, W1, Outcome.SUCCEEDED)
    assert attempt.started_at == attempt.ended_at == PAST
    assert (
        await use.claim(
            subject.db, worker_id=W2, capabilities=frozenset({"EVENT"}), limit=5, tenant_id=ACME
        )
        == []
    )

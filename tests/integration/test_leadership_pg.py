"""Leadership on a real PostgreSQL: what the memory adapter cannot show because it runs
one transaction at a time. A frozen pass holds nothing a takeover needs, renewals pass a
fenced pass, takeovers wait for its commit, and the server ends forgotten transactions."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from adapters.clock import SystemClock
from adapters.memory.publisher import RecordingPublisher
from adapters.postgres.database import PostgresDatabase, SessionLimits, create_pool
from domain.errors import NotLeader, StorageError
from domain.events import DomainEvent, EventType
from domain.ids import EventId
from domain.ports import LEADER
from service.loops.leadership import Campaign, Fence, acquire, fenced
from service.loops.scheduler import Scheduler, SchedulerSettings
from tests.builders import ACME
from tests.servers import app_dsn

QUICK = SessionLimits(lock_timeout=timedelta(milliseconds=500))


@pytest.fixture
async def scheduler(database: str) -> AsyncIterator[PostgresDatabase]:
    """The scheduler's role, with a short lock_timeout: a statement that had to wait
    for a lock raises instead of waiting."""
    pool = await create_pool(app_dsn(database, "kairos_scheduler"), max_size=6, limits=QUICK)
    try:
        yield PostgresDatabase(pool)
    finally:
        await pool.close()


def event() -> DomainEvent:
    return DomainEvent(
        id=EventId(uuid.uuid4()),
        type=EventType.SCHEDULE_UPDATED,
        tenant_id=ACME,
        aggregate_id=uuid.uuid4(),
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        data={},
    )


async def outbox_count(db: PostgresDatabase) -> int:
    async with db.system() as tx:
        return await tx.outbox.count()


async def test_a_frozen_pass_does_not_hold_off_a_takeover_and_then_commits_nothing(
    scheduler: PostgresDatabase,
) -> None:
    """A's pass wrote and froze with its transaction open; B takes over as soon as A's
    1 s lease expires (within ttl + 2 s), and A's resumed pass raises NotLeader and
    commits nothing."""
    ttl = timedelta(seconds=1)
    async with scheduler.system() as tx:
        epoch = await acquire(tx.leader, LEADER, "a", ttl)
    assert epoch is not None
    start = time.monotonic()
    frozen, resume = asyncio.Event(), asyncio.Event()

    async def a_pass() -> None:
        async with fenced(scheduler, Fence.of("a", epoch)) as tx:
            await tx.outbox.append([event()], traceparent=None)
            frozen.set()
            await resume.wait()  # SIGSTOP: the transaction sits idle, open

    task = asyncio.create_task(a_pass())
    await frozen.wait()
    taken = None
    async with asyncio.timeout(ttl.total_seconds() + 2):
        while taken is None:
            async with scheduler.system() as tx:
                taken = await acquire(tx.leader, LEADER, "b", ttl)
            if taken is None:
                await asyncio.sleep(0.05)
    assert taken == epoch + 1
    assert time.monotonic() - start < ttl.total_seconds() + 2
    resume.set()
    with pytest.raises(NotLeader):
        await task
    assert await outbox_count(scheduler) == 0


async def test_renewals_pass_a_fenced_pass_and_a_takeover_follows_its_commit(
    scheduler: PostgresDatabase,
) -> None:
    """A's pass has fenced and not yet committed: A's renewal does not wait; B's
    takeover of the lapsed lease waits (here: lock_timeout) until the pass commits, so
    the pass's write lands before epoch + 1 begins."""
    async with scheduler.system() as tx:
        epoch = await acquire(tx.leader, LEADER, "a", timedelta(minutes=1))
    assert epoch is not None
    fenced_, commit = asyncio.Event(), asyncio.Event()

    async def a_pass() -> None:
        async with scheduler.system() as tx:
            await tx.leader.check(LEADER, "a", epoch)
            await tx.outbox.append([event()], traceparent=None)
            await tx.leader.fence(LEADER, "a", epoch)
            fenced_.set()
            await commit.wait()

    task = asyncio.create_task(a_pass())
    await fenced_.wait()
    async with scheduler.system() as tx:
        assert await tx.leader.renew(LEADER, "a", epoch, timedelta(minutes=1))
    async with scheduler.system() as tx:
        await tx.leader.release(LEADER, "a", epoch)  # lapsed (frozen right after its fence)
    with pytest.raises(StorageError) as timed_out:  # lock_timeout, translated by the adapter
        async with scheduler.system() as tx:
            await tx.leader.take(LEADER, "b", timedelta(minutes=1), seen=epoch)
    assert timed_out.value.sqlstate == "55P03"  # lock_not_available
    commit.set()
    await task
    async with scheduler.system() as tx:
        assert await tx.leader.take(LEADER, "b", timedelta(minutes=1), seen=epoch) == epoch + 1
    assert await outbox_count(scheduler) == 1


async def test_sessions_carry_the_limits_and_the_server_ends_a_forgotten_transaction(
    database: str,
) -> None:
    """The pool's sessions have the configured timeouts; a transaction left idle longer
    than idle_in_transaction is ended by the server (its locks go with it)."""
    limits = SessionLimits(idle_in_transaction=timedelta(milliseconds=300))
    pool = await create_pool(app_dsn(database, "kairos_scheduler"), max_size=2, limits=limits)
    try:
        async with pool.acquire() as conn:
            shown = {
                name: await conn.fetchval(f"SHOW {name}")
                for name in (
                    "statement_timeout",
                    "lock_timeout",
                    "idle_in_transaction_session_timeout",
                )
            }
        assert shown == {
            "statement_timeout": "30s",
            "lock_timeout": "5s",
            "idle_in_transaction_session_timeout": "300ms",
        }
        async with pool.acquire() as conn:
            forgotten = conn.transaction()
            await forgotten.start()
            await conn.execute("SELECT 1")
            await asyncio.sleep(1.0)  # longer than idle_in_transaction: the server ends it
            with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, ConnectionError)):
                await conn.execute("SELECT 1")
    finally:
        await pool.close()


async def test_a_killed_leaders_session_ends_and_another_replica_takes_over_at_once(
    scheduler: PostgresDatabase, database: str
) -> None:
    """A's presence session is terminated (its process killed): B, polling, takes the
    still-live lease over at its next step, and A's passes are fenced off."""
    async with scheduler.presence() as a_presence, scheduler.presence() as b_presence:
        a = Campaign(a_presence, "a", timedelta(minutes=5))
        b = Campaign(b_presence, "b", timedelta(minutes=5))
        first = await a.step()
        assert first is not None
        assert await b.step() is None
        owner = await asyncpg.connect(database)
        try:  # every session of A's presence: the server side of a kill -9
            await owner.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks"
                " WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()"
            )
        finally:
            await owner.close()
        taken = None
        async with asyncio.timeout(5):
            while taken is None:
                taken = await b.step()
                if taken is None:
                    await asyncio.sleep(0.05)
        assert taken == first + 1
        with pytest.raises(NotLeader):
            async with fenced(scheduler, Fence.of("a", first)):
                pass


async def test_replicas_hand_over_at_once_on_a_clean_stop_and_on_a_lost_session(
    database: str,
) -> None:
    """Three Scheduler replicas with a 60 s lease: the leader stopping cleanly, then
    the next one dying mid-loop (its session gone, lease not released), each leaves
    another replica leading within seconds, not after the ttl."""
    dsn = app_dsn(database, "kairos_scheduler")
    pools = [await create_pool(dsn, max_size=3) for _ in range(3)]
    stops = [asyncio.Event() for _ in pools]
    replicas = [
        Scheduler(
            PostgresDatabase(pool),
            RecordingPublisher(),
            {},
            SystemClock(),
            SchedulerSettings(
                replica=f"r{i}",
                lease_ttl=timedelta(seconds=60),
                leader_poll=timedelta(milliseconds=200),
                worker_capacity=0,
            ),
        )
        for i, pool in enumerate(pools)
    ]
    tasks = [asyncio.create_task(r.run(stop)) for r, stop in zip(replicas, stops, strict=True)]

    async def leader(among: list[int]) -> int:
        async with asyncio.timeout(5):  # far below the 60 s ttl
            while True:
                leading = [i for i in among if replicas[i].leader]
                if leading:
                    (only,) = leading
                    return only
                await asyncio.sleep(0.05)

    try:
        first = await leader([0, 1, 2])
        stops[first].set()  # a clean stop: the lease is released
        await asyncio.wait_for(tasks[first], 10)
        rest = [i for i in range(3) if i != first]
        second = await leader(rest)
        tasks[second].cancel()  # dies mid-loop: no release, its session ends
        with pytest.raises(asyncio.CancelledError):
            await tasks[second]
        (third,) = [i for i in rest if i != second]
        assert await leader([third]) == third
    finally:
        for stop in stops:
            stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for pool in pools:
            await pool.close()

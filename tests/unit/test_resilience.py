"""Surviving outages: what is transient, the backoff, supervised loops (an ExceptionGroup
or an InterfaceError no longer ends one), and a worker pool that waits out a database
outage instead of ending."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import asyncpg
import pytest

from adapters.memory.clock import FakeClock
from adapters.memory.database import MemoryDatabase, MemoryUnitOfWork
from adapters.memory.publisher import RecordingPublisher
from adapters.postgres.outage import translated
from domain.errors import DependencyUnavailable, Forbidden, StorageError
from domain.ids import TenantId
from domain.job import TargetKind
from domain.run import RunStatus
from service.loops.resilience import Backoff, Dependencies, is_transient, shielded, supervise
from service.loops.scheduler import Scheduler
from service.loops.worker_pool import WorkerPool
from tests.unit.test_worker_pool import ACME, T0, ScriptedTarget, setup


def test_a_group_of_outages_is_transient_and_a_group_with_a_fault_is_not() -> None:
    """Grouped outages (nested too) are an outage; one real fault makes it a fault. The
    driver's own errors are not known here: the PostgreSQL adapter translates them."""
    lost = DependencyUnavailable("postgres", "connection was closed")
    group = ExceptionGroup("pool", [lost, ExceptionGroup("inner", [ConnectionResetError()])])
    assert is_transient(group)
    assert is_transient(DependencyUnavailable("postgres", "refused"))
    assert not is_transient(asyncpg.InterfaceError("connection is closed"))  # untranslated
    assert not is_transient(ExceptionGroup("pool", [lost, KeyError("bug")]))
    assert not is_transient(ValueError("bug"))


def test_backoff_doubles_with_jitter_up_to_its_cap() -> None:
    """Delays grow from 0.5 s towards 10 s, each within 50-100 % of its step; reset starts over."""
    backoff = Backoff()
    delays = [backoff.next() for _ in range(10)]
    steps = [min(10.0, 0.5 * 2**i) for i in range(10)]
    assert all(step / 2 <= d <= step for d, step in zip(delays, steps, strict=True))
    backoff.reset()
    assert backoff.next() <= 0.5


def test_a_dependency_is_logged_once_when_it_goes_down_and_once_when_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Ten failures of one outage: one warning; the recovery: one info line."""
    deps = Dependencies()
    with caplog.at_level(logging.INFO, logger="kairos.resilience"):
        for _ in range(10):
            deps.down("postgres", ConnectionRefusedError("refused"))
        assert deps.snapshot().keys() == {"postgres"}
        deps.up("postgres")
        deps.up("postgres")
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO"]
    assert deps.snapshot() == {}


async def _scheduler() -> Scheduler:
    return Scheduler(MemoryDatabase(FakeClock(T0)), RecordingPublisher(), {}, FakeClock(T0))


@pytest.mark.parametrize(
    "error",
    [
        ExceptionGroup("claim", [asyncpg.ConnectionDoesNotExistError("closed")]),
        asyncpg.InterfaceError("cannot call Connection.fetch(): connection is closed"),
        ValueError("a bug, not an outage"),
    ],
    ids=["exception-group", "interface-error", "fault"],
)
async def test_guarded_loop_outlives_errors_and_resumes(error: Exception) -> None:
    """A loop raising (grouped outage, driver interface error, a bug) twice is restarted,
    paused in ``loops`` meanwhile, and runs again; the guard ends only at stop."""
    scheduler = await _scheduler()
    stop = asyncio.Event()
    calls = 0
    running = asyncio.Event()

    async def loop(stop: asyncio.Event) -> None:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise error
        running.set()
        await stop.wait()

    guard = asyncio.create_task(scheduler._guarded(loop, stop))
    await asyncio.wait_for(running.wait(), 10)
    assert not guard.done()
    assert "loop" in scheduler.loops.snapshot()  # paused until it has run a while
    stop.set()
    await asyncio.wait_for(guard, 5)
    assert calls == 3
    assert scheduler.loops.snapshot() == {}


async def test_a_fault_is_logged_once_with_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    """The same bug on every restart: one ERROR with the traceback, not one per retry."""
    stop = asyncio.Event()
    calls = 0

    async def body() -> None:
        nonlocal calls
        calls += 1
        if calls >= 4:
            stop.set()
        raise KeyError("bug")

    with caplog.at_level(logging.INFO, logger="kairos.resilience"):
        await asyncio.wait_for(supervise("loop", body, stop), 20)
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1
    assert errors[0].exc_info is not None
    assert calls == 4


class FlakyDatabase(MemoryDatabase):
    """A memory database whose every transaction fails while ``down`` is set, as the
    PostgreSQL adapter does during an outage."""

    down = False

    @asynccontextmanager
    async def transaction(self, tenant_id: TenantId) -> AsyncIterator[MemoryUnitOfWork]:
        if self.down:
            raise DependencyUnavailable("postgres", "connection refused")
        async with super().transaction(tenant_id) as work:
            yield work

    @asynccontextmanager
    async def system(self) -> AsyncIterator[MemoryUnitOfWork]:
        if self.down:
            raise DependencyUnavailable("postgres", "connection refused")
        async with super().system() as work:
            yield work


async def test_a_pool_started_during_an_outage_waits_then_works() -> None:
    """The database is down when the pool starts and for a while after: the pool keeps
    running, and once the database is back it registers and delivers the run."""
    clock = FakeClock(T0)
    memory, run = await setup(clock, max_attempts=3)
    db = FlakyDatabase(clock)
    db._tables = memory._tables  # the same rows, behind a switch
    db.down = True
    target = ScriptedTarget(failures=0)
    pool = WorkerPool(db, {TargetKind.EVENT: target}, clock, idle=timedelta(milliseconds=10))
    stop = asyncio.Event()
    task = asyncio.create_task(pool.run(stop))
    await asyncio.sleep(1.5)
    assert not task.done()
    assert target.delivered == []
    db.down = False
    for _ in range(200):
        if target.delivered:
            break
        await asyncio.sleep(0.05)
    assert target.delivered == [(run.id, 1)]
    db.down = True  # and down again while it runs: claiming pauses, nothing ends
    await asyncio.sleep(1.0)
    assert not task.done()
    db.down = False
    stop.set()
    await asyncio.wait_for(task, 10)
    async with db.transaction(ACME) as tx:
        assert (await tx.runs.get(run.id)).status is RunStatus.SUCCEEDED


@pytest.mark.parametrize(
    ("error", "becomes"),
    [
        (ConnectionRefusedError(111, "refused"), DependencyUnavailable),
        (OSError(113, "no route to host"), DependencyUnavailable),
        (asyncpg.InterfaceError("connection is closed"), DependencyUnavailable),
        (asyncpg.exceptions.AdminShutdownError("terminating connection"), DependencyUnavailable),
        (Forbidden("system.retention is a system schedule"), Forbidden),
        (PermissionError("not a network failure"), PermissionError),
        (asyncpg.UniqueViolationError("duplicate key"), StorageError),
    ],
)
def test_the_postgres_adapter_translates_driver_errors_once(
    error: Exception, becomes: type[Exception]
) -> None:
    """Connection-class errors become DependencyUnavailable (an outage), the server's
    other errors StorageError (not one); a domain error that happens to be an OSError
    (Forbidden is a PermissionError) or any other error passes unchanged."""
    with pytest.raises(becomes) as raised, translated():
        raise error
    assert type(raised.value) is becomes
    assert (raised.value is error) is (becomes is type(error))
    assert is_transient(raised.value) is (becomes is DependencyUnavailable)


async def test_a_shielded_write_finishes_before_the_cancellation_goes_on() -> None:
    """Cancelling the caller of a shielded write waits for the write to end, then the
    caller is cancelled: the write is never abandoned half-way nor left running alone."""
    written: list[str] = []
    started = asyncio.Event()

    async def write() -> None:
        started.set()
        await asyncio.sleep(0.05)
        written.append("outcome")

    caller = asyncio.create_task(shielded(write()))
    await started.wait()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert written == ["outcome"]

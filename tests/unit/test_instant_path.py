"""The instant path (docs/semantics.md, *Instant delivery*) on memory adapters and the
fake clock: which fires take it, what is written, when the message goes, and what a
refusal leaves behind."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from adapters.memory.clock import FakeClock
from adapters.memory.database import MemoryDatabase
from domain.errors import ExecutionFailed, NotFound
from domain.events import EventType
from domain.ids import WorkerId, run_id_for
from domain.job import Job, Target, TargetKind
from domain.run import NewRun, Run, RunStatus
from domain.schedule import OverlapPolicy, Schedule
from domain.timing import Timing
from domain.triggers import FixedDelayTrigger, OneShotTrigger
from service.loops.instant import InstantDelivery, InstantRefused
from service.loops.leadership import Fence
from service.loops.materialiser import Pass, materialise_due
from service.usecases import runs as use
from service.usecases.commands import CreateSchedule
from service.usecases.schedules import create_schedule
from tests.builders import ACME, leading

T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
POOL = WorkerId(uuid.UUID(int=7))


class Broker:
    """An instant target that records what it was sent and answers as told."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.sent: list[tuple[datetime, Run]] = []  # (clock time, run) per message
        self.refuse: str | None = None  # answer every message with this refusal
        self.unpreparable: set[uuid.UUID] = set()  # run ids whose message cannot be made
        self.available = True

    def prepare(self, items: Sequence[tuple[Run, Job]]) -> list[object | Exception]:
        return [
            ExecutionFailed("EVENT target has no subject") if run.id in self.unpreparable else run
            for run, _ in items
        ]

    async def send(self, messages: Sequence[object]) -> list[str | None]:
        for message in messages:
            assert isinstance(message, Run)
            self.sent.append((self.clock.now(), message))
        return [self.refuse] * len(messages)


def event_job(**fields: object) -> Job:
    return Job(
        id=uuid.uuid4(),  # type: ignore[arg-type]
        tenant_id=ACME,
        name=f"ping-{uuid.uuid4().hex[:6]}",
        target=Target(kind=TargetKind.EVENT, config={"subject": "ping"}),
        created_at=T0,
        updated_at=T0,
        **fields,  # type: ignore[arg-type]
    )


async def one_shot(db: MemoryDatabase, at: datetime, job: Job | None = None) -> Schedule:
    j = job or event_job()
    async with db.transaction(ACME) as tx:
        try:
            await tx.jobs.get(j.id)
        except NotFound:
            await tx.jobs.add(j)
    return await create_schedule(
        db,
        CreateSchedule(
            tenant_id=ACME,
            name=f"once-{uuid.uuid4().hex[:6]}",
            job_id=j.id,
            timing=Timing(trigger=OneShotTrigger(at=at)),
        ),
    )


async def every_second(db: MemoryDatabase, overlap: OverlapPolicy = OverlapPolicy.SKIP) -> Schedule:
    """A fixed-delay schedule firing every second from T0, on a new EVENT job."""
    job = event_job()
    async with db.transaction(ACME) as tx:
        await tx.jobs.add(job)
    return await create_schedule(
        db,
        CreateSchedule(
            tenant_id=ACME,
            name="tick",
            job_id=job.id,
            timing=Timing(trigger=FixedDelayTrigger(every=SECOND), start_at=T0),
            overlap_policy=overlap,
        ),
    )


def setup(at: datetime = T0) -> tuple[FakeClock, MemoryDatabase, Broker, InstantDelivery]:
    clock = FakeClock(at)
    broker = Broker(clock)
    instant = InstantDelivery({TargetKind.EVENT: broker}, clock, POOL)
    return clock, MemoryDatabase(clock), broker, instant


async def run_pass(db: MemoryDatabase, fence: Fence, instant: InstantDelivery | None) -> Pass:
    return await materialise_due(db, fence=fence, horizon=SECOND / 5, instant=instant)


async def stored(db: MemoryDatabase, schedule: Schedule, at: datetime = T0) -> Run:
    async with db.transaction(ACME) as tx:
        return await tx.runs.get(run_id_for(ACME, schedule.id, at))


async def test_a_due_event_fire_is_written_succeeded_with_its_attempt_and_one_event() -> None:
    """The run starts ``succeeded`` with attempt 1 signed by the pool; its only event is
    ``run.succeeded`` (carrying started_at and the attempt), never ``run.started``; the
    message told the target attempt 1."""
    _, db, broker, instant = setup()
    schedule = await one_shot(db, T0)
    fence = await leading(db)
    done = await run_pass(db, fence, instant)
    assert (done.runs, done.delivered) == (1, 1)
    assert done.lateness == (0.0,)  # published at its instant (what the metrics get)
    run = await stored(db, schedule)
    assert (run.status, run.attempt) == (RunStatus.SUCCEEDED, 1)
    (attempt,) = run.attempts
    assert (attempt.worker_id, attempt.started_at, attempt.ended_at) == (POOL, T0, T0)
    runs_events = [e for e in db.outbox if e.aggregate_id == run.id]
    assert [e.type for e in runs_events] == [EventType.RUN_SUCCEEDED]
    assert runs_events[0].data["attempt"] == 1
    assert runs_events[0].data["started_at"] == T0.isoformat()
    assert [(m.id, m.attempt) for _, m in broker.sent] == [(run.id, 1)]


async def test_the_pass_publishes_at_the_dispatch_instant_not_when_it_plans() -> None:
    """A pass that runs ahead of the fire (by the horizon) has the message out only at
    the fire's instant, and nothing is committed before it."""
    clock, db, broker, instant = setup(T0 - SECOND / 10)
    schedule = await one_shot(db, T0)
    fence = await leading(db)
    pending = asyncio.ensure_future(run_pass(db, fence, instant))
    await clock.until_sleeping()
    assert broker.sent == []
    clock.advance(SECOND / 10)
    done = await pending
    assert done.delivered == 1
    assert [at for at, _ in broker.sent] == [T0]
    assert (await stored(db, schedule)).status is RunStatus.SUCCEEDED


async def test_a_refused_message_rolls_the_pass_back_and_the_lease_path_takes_the_fire() -> None:
    """Nothing of a refused pass is kept (no run, the schedule not advanced, no event);
    the same pass without the instant path makes an ordinary claimable run."""
    _, db, broker, instant = setup()
    schedule = await one_shot(db, T0)
    fence = await leading(db)
    before = len(db.outbox)
    broker.refuse = "no acknowledgement within 5 s"
    with pytest.raises(InstantRefused):
        await run_pass(db, fence, instant)
    assert len(db.outbox) == before
    async with db.transaction(ACME) as tx:
        assert (await tx.schedules.get(schedule.id)).next_fire_at == T0
        with pytest.raises(NotFound):
            await tx.runs.get(run_id_for(ACME, schedule.id, T0))
    done = await run_pass(db, fence, None)
    assert (done.runs, done.delivered) == (1, 0)
    run = await stored(db, schedule)
    assert (run.status, run.attempt) == (RunStatus.PENDING, 0)


@pytest.mark.parametrize(
    "why",
    ["job concurrency cap", "tenant running cap", "job disabled", "broker away"],
)
async def test_what_the_lease_path_enforces_keeps_a_fire_off_the_instant_path(why: str) -> None:
    """A job concurrency cap, an operator's running cap, a disabled target or a broker
    connection that is down: the fire is an ordinary run, nothing is published."""
    _, db, broker, instant = setup()
    job = event_job(max_concurrency=2) if why == "job concurrency cap" else event_job()
    if why == "job disabled":
        job = replace(job, disabled="410 Gone")
    if why == "tenant running cap":
        instant = replace(instant, max_running=10)
    broker.available = why != "broker away"
    schedule = await one_shot(db, T0, job)
    fence = await leading(db)
    done = await run_pass(db, fence, instant)
    assert (done.runs, done.delivered) == (1, 0)
    assert (await stored(db, schedule)).status is RunStatus.PENDING
    assert broker.sent == []


async def test_a_fire_behind_an_active_run_of_its_schedule_goes_through_a_lease() -> None:
    """Overlap is the lease path's: with an earlier run of the schedule still running,
    the next fire is decided by the overlap policy, not delivered at once."""
    clock, db, broker, instant = setup()
    schedule = await every_second(db)
    fence = await leading(db)
    await run_pass(db, fence, None)  # the fire at T0 through a lease, claimed: running
    (first,) = await use.claim(
        db, worker_id=POOL, capabilities=frozenset({"EVENT"}), limit=1, tenant_id=ACME
    )
    clock.advance(SECOND)
    await run_pass(db, fence, instant)
    second = await stored(db, schedule, T0 + SECOND)
    assert second.status is RunStatus.SKIPPED  # overlap: skip, the default
    assert broker.sent == []
    assert (await stored(db, schedule)).status is RunStatus.RUNNING
    assert first.id == run_id_for(ACME, schedule.id, T0)


async def test_a_message_that_cannot_be_made_leaves_its_fire_to_the_lease_path() -> None:
    """One fire whose message cannot be prepared is an ordinary run (the lease path will
    record why it fails); the others of the pass are delivered."""
    _, db, broker, instant = setup()
    bad, good = await one_shot(db, T0), await one_shot(db, T0)
    broker.unpreparable = {run_id_for(ACME, bad.id, T0)}
    fence = await leading(db)
    done = await run_pass(db, fence, instant)
    assert (done.runs, done.delivered) == (2, 1)
    assert (await stored(db, bad)).status is RunStatus.PENDING
    assert (await stored(db, good)).status is RunStatus.SUCCEEDED


async def test_a_catch_up_under_replace_does_not_deliver_the_runs_it_cancels() -> None:
    """Overdue fires of a ``replace`` schedule (a hand-over's gap): each later fire
    cancels the one before it in the same pass, so the first, admitted as a candidate,
    is cancelled before it is staged; nothing cancelled is published, and the pass
    commits (it used to fail on every retry)."""
    clock, db, broker, instant = setup()
    schedule = await every_second(db, OverlapPolicy.REPLACE)
    fence = await leading(db)
    clock.advance(3 * SECOND + SECOND / 2)
    done = await run_pass(db, fence, instant)
    assert done.runs == 4
    statuses = [(await stored(db, schedule, T0 + k * SECOND)).status for k in range(4)]
    assert statuses[:3] == [RunStatus.CANCELLED] * 3
    assert statuses[3] in (RunStatus.PENDING, RunStatus.SUCCEEDED)
    cancelled = {run_id_for(ACME, schedule.id, T0 + k * SECOND) for k in range(3)}
    assert not cancelled & {run.id for _, run in broker.sent}


async def test_a_fire_whose_run_exists_already_is_neither_sent_nor_reported() -> None:
    """The run key exists (an earlier pass's run, a backfill's): the pass inserts
    nothing for it, so it publishes no message and appends no run.succeeded for it; the
    stored run is left as it was."""
    _, db, broker, instant = setup()
    schedule = await one_shot(db, T0)
    async with db.transaction(ACME) as tx:
        job = await tx.jobs.get(schedule.job_id)
        existing, _ = Run.dispatched(
            NewRun(
                tenant_id=ACME,
                schedule_id=schedule.id,
                job_id=job.id,
                nominal_at=T0,
                dispatch_at=T0,
                max_attempts=job.max_attempts,
                priority=job.priority,
                capability=job.capability,
            ),
            now=T0,
        )
        assert await tx.runs.add_many([existing]) == 1
    fence = await leading(db)
    done = await run_pass(db, fence, instant)
    assert (done.runs, done.delivered) == (0, 0)
    assert broker.sent == []
    assert (await stored(db, schedule)).status is RunStatus.PENDING
    assert not [e for e in db.outbox if e.aggregate_id == existing.id]

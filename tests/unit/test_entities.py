"""Domain entities: schedule, run, worker and job lifecycles return new state plus events."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

import pytest

from adapters.memory.clock import FakeClock
from domain.errors import InvalidRequest, InvalidTransition, LeaseLost
from domain.events import EventType
from domain.ids import JobId, ScheduleId, TenantId, WorkerId, run_id_for
from domain.job import Backoff, BackoffKind, Priority
from domain.run import NewRun, Outcome, Run, RunStatus, why_waiting
from domain.schedule import Schedule, ScheduleState
from domain.worker import Worker, WorkerState
from tests.builders import cron, utc

T0 = utc(2026, 1, 1)
TENANT = TenantId("acme")


def schedule() -> Schedule:
    created, events = Schedule.create(
        now=T0,
        id=ScheduleId(uuid.UUID(int=1)),
        tenant_id=TENANT,
        name="nightly",
        job_id=JobId(uuid.UUID(int=2)),
        timing=cron("0 2 * * *", "Europe/Berlin"),
    )
    assert [e.type for e in events] == [EventType.SCHEDULE_CREATED]
    return created


def test_schedule_lifecycle_emits_one_event_per_change() -> None:
    """pause -> disabled, resume -> enabled, update -> updated, delete -> deleted."""
    s = schedule()
    paused, ev = s.pause(now=T0)
    assert paused.state is ScheduleState.PAUSED
    assert [e.type for e in ev] == [EventType.SCHEDULE_DISABLED]
    assert paused.pause(now=T0) == (paused, [])
    resumed, ev = paused.resume(now=T0)
    assert [e.type for e in ev] == [EventType.SCHEDULE_ENABLED]
    updated, ev = resumed.update(now=T0, name="nightly-2")
    assert (updated.name, updated.version) == ("nightly-2", 4)
    assert ev[0].subject == "scheduler.schedule.updated.acme"
    gone, ev = updated.delete(now=T0)
    assert [e.type for e in ev] == [EventType.SCHEDULE_DELETED]
    with pytest.raises(InvalidTransition):
        gone.update(now=T0, name="x")
    with pytest.raises(TypeError):  # only the updatable fields are parameters
        updated.update(now=T0, state="enabled")  # type: ignore[call-arg]


def test_event_ids_are_deterministic_per_revision() -> None:
    """The same decision yields the same event id; a new revision a new one."""
    s = schedule()
    _, a = s.pause(now=T0)
    _, b = s.pause(now=T0 + timedelta(seconds=5))
    assert a[0].id == b[0].id
    paused, _ = s.pause(now=T0)
    _, c = paused.resume(now=T0)
    assert c[0].id != a[0].id


def test_completed_schedule_cannot_resume_and_advance_counts_fires() -> None:
    """complete() clears next fire; advance() counts dispatched fires."""
    s = schedule().advance(next_fire_at=utc(2026, 1, 2, 1), dispatched=2, now=T0)
    assert (s.fire_count, s.next_fire_at) == (2, utc(2026, 1, 2, 1))
    done, ev = s.complete(now=T0)
    assert done.next_fire_at is None
    assert [e.type for e in ev] == [EventType.SCHEDULE_COMPLETED]
    with pytest.raises(InvalidTransition):
        done.resume(now=T0)


def new_run(max_attempts: int = 2) -> Run:
    run, events = Run.dispatched(
        NewRun(
            tenant_id=TENANT,
            schedule_id=ScheduleId(uuid.UUID(int=1)),
            job_id=JobId(uuid.UUID(int=2)),
            nominal_at=T0,
            dispatch_at=T0,
            max_attempts=max_attempts,
            priority=Priority.HIGH,
            capability="EVENT",
        ),
        now=T0,
    )
    assert events == []
    return run


def test_run_id_is_derived_from_its_key() -> None:
    """Materialising the same fire twice gives the same run id."""
    assert new_run().id == new_run().id == run_id_for(TENANT, ScheduleId(uuid.UUID(int=1)), T0)
    other = run_id_for(TENANT, ScheduleId(uuid.UUID(int=1)), T0 + timedelta(microseconds=1))
    assert other != new_run().id


def test_run_retries_then_dies_and_rejects_stale_tokens() -> None:
    """fail with attempts left -> pending after backoff; last attempt -> dead (+event)."""
    clock = FakeClock(T0)
    worker = WorkerId(uuid.UUID(int=9))
    run, ev = new_run().start(
        worker_id=worker, token=1, lease_until=T0 + timedelta(minutes=1), now=clock.now()
    )
    assert (run.status, run.attempt, ev[0].type) == (RunStatus.RUNNING, 1, EventType.RUN_STARTED)
    with pytest.raises(LeaseLost):
        run.succeed(token=0, now=clock.now())
    clock.advance(timedelta(seconds=3))
    run, ev = run.fail(token=1, error="boom", now=clock.now(), retry_in=timedelta(seconds=10))
    assert (run.status, run.available_at) == (
        RunStatus.PENDING,
        clock.now() + timedelta(seconds=10),
    )
    assert run.attempts[0].duration == timedelta(seconds=3)
    with pytest.raises(LeaseLost):
        run.start(worker_id=worker, token=1, lease_until=T0, now=clock.now())
    run, _ = run.start(worker_id=worker, token=2, lease_until=T0, now=clock.now())
    run, ev = run.fail(token=2, error="boom", now=clock.now(), retry_in=timedelta(0))
    assert run.status is RunStatus.DEAD
    assert [e.type for e in ev] == [EventType.RUN_FAILED, EventType.RUN_DEAD]
    with pytest.raises(InvalidTransition):
        run.cancel(reason="too late", now=clock.now())


def test_skipped_and_missed_runs_are_terminal_with_events() -> None:
    """A skipped fire is a run with status skipped, reason, and a run.skipped event."""
    run, events = Run.skipped(
        NewRun(
            tenant_id=TENANT,
            schedule_id=ScheduleId(uuid.UUID(int=1)),
            job_id=JobId(uuid.UUID(int=2)),
            nominal_at=T0,
            dispatch_at=T0,
            max_attempts=1,
            priority=Priority.NORMAL,
            capability="EVENT",
        ),
        now=T0,
        reason="dst_gap",
    )
    assert (run.status, run.reason, run.terminal) == (RunStatus.SKIPPED, "dst_gap", True)
    assert [e.type for e in events] == [EventType.RUN_SKIPPED]


def test_backoff_full_jitter_bounds() -> None:
    """Exponential backoff caps at max; full jitter scales by the caller's unit."""
    b = Backoff(initial=timedelta(seconds=1), multiplier=2, max=timedelta(seconds=10))
    assert b.delay(1, 0.5) == timedelta(seconds=0.5)
    assert b.delay(3, 0.5) == timedelta(seconds=2)
    assert b.delay(10, 0.999) < timedelta(seconds=10)
    assert Backoff(
        kind=BackoffKind.FIXED, initial=timedelta(seconds=4), max=timedelta(seconds=4)
    ).delay(5, 0.25) == timedelta(seconds=1)
    with pytest.raises(InvalidRequest):
        Backoff(multiplier=0.5)


def test_worker_goes_offline_after_three_missed_heartbeats() -> None:
    """Offline only after 3 intervals of silence; a heartbeat brings it back."""
    clock = FakeClock(T0)
    worker, ev = Worker.register(
        now=clock.now(),
        id=WorkerId(uuid.UUID(int=3)),
        tenant_id=TENANT,
        name="w1",
        capabilities=frozenset({"EVENT"}),
        capacity=4,
    )
    assert ev[0].type is EventType.WORKER_REGISTERED
    clock.advance(timedelta(seconds=15))
    assert worker.mark_offline(now=clock.now()) == (worker, [])
    clock.advance(timedelta(seconds=1))
    offline, ev = worker.mark_offline(now=clock.now())
    assert offline.state is WorkerState.OFFLINE
    assert ev[0].type is EventType.WORKER_OFFLINE
    back, ev = offline.heartbeat(now=clock.now())
    assert back.state is WorkerState.ONLINE
    assert back.can_run("EVENT")
    assert not back.can_run("HTTP")


def test_rescuer_takes_back_timed_out_and_lease_lost_runs() -> None:
    """TIMEOUT wins over lease expiry; heartbeats extend the lease but not the timeout."""
    clock = FakeClock(T0)
    worker = WorkerId(uuid.UUID(int=9))
    run, _ = new_run(max_attempts=3).start(
        worker_id=worker,
        token=5,
        lease_until=T0 + timedelta(seconds=30),
        now=T0,
        timeout=timedelta(seconds=60),
    )
    assert run.expired(clock.now()) is None
    run = run.extend(token=5, lease_until=T0 + timedelta(seconds=90))
    with pytest.raises(LeaseLost):
        run.extend(token=4, lease_until=T0 + timedelta(hours=1))
    clock.advance(timedelta(seconds=61))
    assert run.expired(clock.now()) is Outcome.TIMEOUT
    retried, events = run.take_back(now=clock.now(), retry_in=timedelta(seconds=5))
    assert (retried.status, retried.reason) == (RunStatus.PENDING, "TIMEOUT")
    assert retried.attempts[-1].outcome is Outcome.TIMEOUT
    assert [e.type for e in events] == [EventType.RUN_FAILED]
    again, _ = retried.start(
        worker_id=worker, token=6, lease_until=clock.now() + timedelta(seconds=1), now=clock.now()
    )
    clock.advance(timedelta(seconds=2))
    assert again.expired(clock.now()) is Outcome.LEASE_EXPIRED
    with pytest.raises(InvalidTransition):
        retried.take_back(now=clock.now(), retry_in=timedelta(0))


def test_a_worker_registered_again_under_its_id_gets_new_event_ids() -> None:
    """Re-registering the same worker id (a pool restarted after an outage) must not
    repeat the first registration's event id, which the stream's dedupe would drop."""
    worker_id = WorkerId(uuid.uuid4())
    first, [registered] = Worker.register(
        now=T0, id=worker_id, tenant_id=TenantId("acme"), name="w", capabilities=frozenset({"x"}),
        capacity=1,
    )  # fmt: skip
    again, [registered_again] = Worker.register(
        now=T0 + timedelta(seconds=30), id=worker_id, tenant_id=TenantId("acme"), name="w",
        capabilities=frozenset({"x"}), capacity=1,
    )  # fmt: skip
    assert registered.id != registered_again.id
    [stopped] = first.stop(now=T0 + timedelta(seconds=5))[1]
    [stopped_again] = again.stop(now=T0 + timedelta(seconds=35))[1]
    assert stopped.id != stopped_again.id


def test_an_attempt_our_broker_refused_does_not_use_up_the_budget() -> None:
    """A run on its last attempt whose message Kairos' own broker refused goes back to
    pending with one more attempt; an ordinary failure on the last attempt is dead."""
    worker = WorkerId(uuid.uuid4())
    run = Run.dispatched(
        NewRun(
            tenant_id=TenantId("acme"),
            schedule_id=ScheduleId(uuid.uuid4()),
            job_id=JobId(uuid.uuid4()),
            nominal_at=T0,
            dispatch_at=T0,
            max_attempts=1,
            priority=Priority.NORMAL,
            capability="EVENT",
        ),
        now=T0,
    )[0]
    started, _ = run.start(worker_id=worker, token=1, lease_until=T0 + timedelta(seconds=9), now=T0)
    kept, _ = started.fail(
        token=1, error="NATS is not connected", now=T0, retry_in=timedelta(seconds=1),
        uncounted=True,
    )  # fmt: skip
    assert (kept.status, kept.attempt, kept.max_attempts) == (RunStatus.PENDING, 1, 2)
    dead, _ = started.fail(token=1, error="boom", now=T0, retry_in=timedelta(seconds=1))
    assert dead.status is RunStatus.DEAD


def test_a_run_that_succeeds_after_a_failed_attempt_drops_the_failure_reason() -> None:
    """The failed attempt keeps its error; the succeeded run carries no reason."""
    worker = WorkerId(uuid.UUID(int=9))
    run, _ = new_run(max_attempts=3).start(worker_id=worker, token=1, lease_until=T0, now=T0)
    run, _ = run.fail(token=1, error="receiver down", now=T0, retry_in=timedelta(0))
    assert (run.status, run.reason) == (RunStatus.PENDING, "receiver down")
    run, _ = run.start(worker_id=worker, token=2, lease_until=T0, now=T0)
    run, _ = run.succeed(token=2, now=T0)
    assert (run.status, run.reason) == (RunStatus.SUCCEEDED, None)
    assert run.attempts[0].error == "receiver down"


def test_a_waiting_run_says_why() -> None:
    """why_waiting names the first cause: backoff, no capable worker online, the tenant's
    running cap, its buffer; a run next in line or not waiting has none."""
    run = new_run()
    later = T0 + timedelta(minutes=1)

    def why(r: Run, online: bool = True, running: int = 0, cap: int | None = None) -> str | None:
        return why_waiting(
            r, now=T0, capable_worker_online=online, tenant_running=running, max_running=cap
        )

    assert run.status is RunStatus.PENDING
    assert why(run) is None
    assert (why(run, online=False) or "").startswith("no capable worker online")
    assert (why(run, running=3, cap=3) or "").startswith("tenant at its running cap")
    assert why(run, running=2, cap=3) is None
    assert (why(replace(run, available_at=later)) or "").startswith("retry backoff")
    assert (why(replace(run, buffered=True)) or "").startswith("buffered")
    assert (why(replace(run, status=RunStatus.WAITING)) or "").startswith("waiting for upstream")
    assert why(replace(run, status=RunStatus.SUCCEEDED), online=False) is None

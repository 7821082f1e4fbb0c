"""New runs: one factory per initial status, each recording the same fire identically."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from domain.events import EventType
from domain.ids import CalendarId, JobId, RunId, ScheduleId, TenantId, run_id_for
from domain.job import Priority
from domain.run import NewRun, Run, RunOrigin, RunStatus

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
TENANT = TenantId("acme")
SCHEDULE = ScheduleId(uuid.UUID(int=1))


def fire(**changes: object) -> NewRun:
    fields: dict[str, object] = {
        "tenant_id": TENANT,
        "schedule_id": SCHEDULE,
        "job_id": JobId(uuid.UUID(int=2)),
        "nominal_at": T0,
        "dispatch_at": T0,
        "max_attempts": 3,
        "priority": Priority.HIGH,
        "capability": "EVENT",
        "payload": {"n": 1},
        "calendar": (CalendarId(uuid.UUID(int=3)), 4),
        **changes,
    }
    return NewRun(**fields)  # type: ignore[arg-type]


def test_dispatched_is_scheduled_until_its_dispatch_time_then_pending() -> None:
    """A fire due later is scheduled, one due now is pending; neither has an event."""
    later, events = Run.dispatched(fire(dispatch_at=T0 + timedelta(minutes=1)), now=T0)
    assert (later.status, later.reason, events) == (RunStatus.SCHEDULED, None, [])
    assert later.available_at == T0 + timedelta(minutes=1)
    now, events = Run.dispatched(fire(), now=T0, buffered=True)
    assert (now.status, now.buffered, events) == (RunStatus.PENDING, True, [])
    assert (now.max_attempts, now.priority, now.capability) == (3, Priority.HIGH, "EVENT")
    assert (now.payload, now.calendar) == ({"n": 1}, (CalendarId(uuid.UUID(int=3)), 4))
    assert (now.created_at, now.updated_at, now.attempt) == (T0, T0, 0)


def test_every_factory_derives_the_same_id_from_the_fire() -> None:
    """The id comes from (tenant, schedule, nominal) whatever the status; run_id overrides it."""
    key = run_id_for(TENANT, SCHEDULE, T0)
    made = [
        Run.dispatched(fire(), now=T0)[0],
        Run.waiting_on_upstream(fire(), reason="upstream", now=T0)[0],
        Run.skipped(fire(), reason="overlap", now=T0)[0],
        Run.missed(fire(), now=T0)[0],
    ]
    assert {r.id for r in made} == {key}
    named = RunId(uuid.UUID(int=9))
    assert Run.dispatched(fire(run_id=named), now=T0)[0].id == named


def test_waiting_on_upstream_keeps_its_reason_and_has_no_event() -> None:
    """A run behind upstream schedules waits with its reason, buffered if admitted so."""
    run, events = Run.waiting_on_upstream(fire(), reason="upstream", now=T0, buffered=True)
    assert (run.status, run.reason, run.buffered, events) == (
        RunStatus.WAITING,
        "upstream",
        True,
        [],
    )
    assert run.release(now=T0).status is RunStatus.PENDING


def test_skipped_and_missed_are_terminal_with_their_events() -> None:
    """skipped and missed records end at once and say so with run.skipped / run.missed,
    whose ids are deterministic (the same fire gives the same event)."""
    skipped, events = Run.skipped(fire(origin=RunOrigin.MANUAL), reason="debounced", now=T0)
    assert (skipped.status, skipped.reason, skipped.terminal) == (
        RunStatus.SKIPPED,
        "debounced",
        True,
    )
    assert [e.type for e in events] == [EventType.RUN_SKIPPED]
    assert events == Run.skipped(fire(origin=RunOrigin.MANUAL), reason="debounced", now=T0)[1]
    assert events[0].data["origin"] == "manual"
    missed, events = Run.missed(fire(), now=T0)
    assert (missed.status, missed.reason, missed.missed_count) == (
        RunStatus.MISSED,
        "misfire",
        None,
    )
    assert [e.type for e in events] == [EventType.RUN_MISSED]
    assert "missed_count" not in events[0].data


def test_a_missed_summary_counts_the_fires_it_stands_for() -> None:
    """A summary record carries its count and reason; a count below one is refused."""
    summary, events = Run.missed(fire(), now=T0, reason="max_catchup", count=7)
    assert (summary.missed_count, summary.reason) == (7, "max_catchup")
    assert events[0].data["missed_count"] == 7
    with pytest.raises(ValueError, match="at least one"):
        Run.missed(fire(), now=T0, count=0)


def test_a_backfill_run_records_its_backfill() -> None:
    """origin and backfill_id are recorded as given."""
    backfill = uuid.UUID(int=5)
    run, _ = Run.dispatched(
        fire(origin=RunOrigin.BACKFILL, backfill_id=backfill, traceparent="00-ab-cd-01"), now=T0
    )
    assert (run.origin, run.backfill_id, run.traceparent) == (
        RunOrigin.BACKFILL,
        backfill,
        "00-ab-cd-01",
    )

"""Manual triggers (docs/semantics.md, *Run identity* and *Overlap*): fire a schedule
now, outside its rule.

- With an ``Idempotency-Key`` the run's id is derived from (tenant, schedule, key), so
  the same key answers the same run however often it is sent; without one, every
  trigger is a new run.
- The run's nominal time is the database's now (bumped by a microsecond if a fire of the
  schedule already has that instant, so two triggers never collide on the run key).
- Overlap: the schedule's policy, unless the request overrides it. A trigger refused by
  overlap is recorded ``skipped`` (reason ``overlap``) like a scheduled fire, and that
  record is the answer.
- A paused or completed schedule can be triggered (a trigger is explicit); a deleted one
  cannot (404).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from domain.errors import InvalidRequest, NotFound
from domain.events import DomainEvent
from domain.firing import SkipReason
from domain.ids import RunId, manual_run_id
from domain.limits import TenantLimits
from domain.overlap import Admission, Decision, admit
from domain.ports import Database, UnitOfWork
from domain.run import NewRun, Run, RunOrigin
from domain.schedule import OverlapPolicy, Schedule, ScheduleState
from service import telemetry
from service.usecases.commands import TriggerSchedule

_MICROSECOND = timedelta(microseconds=1)
_NOMINAL_TRIES = 100


@dataclass(frozen=True, slots=True)
class Triggered:
    run: Run
    created: bool  # False: the idempotency key named an existing run


async def trigger_schedule(
    db: Database, command: TriggerSchedule, *, limits: TenantLimits | None = None
) -> Triggered:
    """Fire the schedule (by id, or by name) now; see the module doc."""
    tenant_id, schedule_id, name = command.tenant_id, command.schedule_id, command.name
    payload, idempotency_key, overlap = command.payload, command.idempotency_key, command.overlap
    if limits is not None:
        limits.check_payload(payload)
    if (schedule_id is None) == (name is None):
        raise InvalidRequest("name the schedule by schedule_id or by name", field="schedule_id")
    async with db.transaction(tenant_id) as tx:
        if schedule_id is not None:
            schedule = await tx.schedules.get(schedule_id)
        else:
            assert name is not None
            schedule = await tx.schedules.by_name(name)
        if schedule.state is ScheduleState.DELETED:
            raise NotFound("schedule", str(schedule.id))
        schedule_id = schedule.id
        run_id = None
        if idempotency_key is not None:
            run_id = manual_run_id(tenant_id, schedule_id, idempotency_key)
            try:
                return Triggered(await tx.runs.get(run_id), created=False)
            except NotFound:
                pass
        return await fire_now(
            tx,
            schedule,
            payload=payload,
            run_id=run_id,
            origin=RunOrigin.MANUAL,
            overlap=overlap,
        )


async def fire_now(
    tx: UnitOfWork,
    schedule: Schedule,
    *,
    payload: Mapping[str, Any] | None,
    run_id: RunId | None,
    origin: RunOrigin,
    overlap: OverlapPolicy | None = None,
    nominal_at: datetime | None = None,
    skip_reason: str | None = None,
) -> Triggered:
    """One run of ``schedule`` outside its rule (a manual or event trigger), in ``tx``:
    admitted by the overlap policy (``overlap`` overrides the schedule's), nominal time
    ``nominal_at`` (default: now) bumped past any fire holding that instant. A
    ``run_id`` already taken answers that run (``created`` False). ``skip_reason``
    records the fire as skipped with that reason (a debounced event)."""
    tenant_id, schedule_id = schedule.tenant_id, schedule.id
    job = await tx.jobs.get(schedule.job_id)
    now = await tx.now()
    active = (await tx.runs.active([(tenant_id, schedule_id)])).get(schedule_id, ())
    decision = admit(overlap or schedule.overlap_policy, schedule.max_buffered, active)
    if skip_reason is not None:
        decision = Decision(Admission.SKIP)
    events: list[DomainEvent] = []
    for old in decision.cancel:  # replace
        stored = await tx.runs.get(old.id, lock=True)
        if not stored.terminal:
            cancelled, more = stored.cancel(reason=f"replaced by a {origin.value} trigger", now=now)
            await tx.runs.save_many([cancelled])
            events += more
    nominal = nominal_at or now
    for _ in range(_NOMINAL_TRIES):
        new = NewRun(
            tenant_id=tenant_id,
            schedule_id=schedule_id,
            job_id=job.id,
            nominal_at=nominal,
            dispatch_at=now,
            max_attempts=job.max_attempts,
            priority=job.priority,
            capability=job.capability,
            payload={**schedule.payload, **(payload or {})},
            origin=origin,
            run_id=run_id,
            traceparent=telemetry.current_traceparent(),
            schedule_name=schedule.name,
            job_name=job.name,
        )
        if decision.admission is Admission.SKIP:
            reason = skip_reason or SkipReason.OVERLAP.value
            run, run_events = Run.skipped(new, reason=reason, now=now)
        else:
            buffered = decision.admission is Admission.BUFFER
            run, run_events = Run.dispatched(new, now=now, buffered=buffered)
        if await tx.runs.add_many([run]):
            break
        if run_id is not None:  # the same key, sent twice at once: the other won
            try:
                return Triggered(await tx.runs.get(run_id), created=False)
            except NotFound:
                pass
        nominal += _MICROSECOND  # a fire of this schedule has this very instant
    else:  # pragma: no cover - a hundred fires in the same microseconds
        raise RuntimeError("no free nominal instant for a trigger")
    await tx.outbox.append([*events, *run_events], traceparent=telemetry.current_traceparent())
    return Triggered(run, created=True)

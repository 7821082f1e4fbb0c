"""The leader's materialiser: turn due fires into runs, exactly once per fire.

One pass, in one system transaction fenced by the leader lease (``service.loops.leadership``):
lock due schedules (SKIP LOCKED) -> plan each one's fires up to now + horizon -> insert
runs keyed by (tenant, schedule, nominal) with ON CONFLICT DO NOTHING -> advance each
schedule's next fire and fire count -> complete schedules with no fires left -> outbox.

Every fire becomes a run: a dispatched one (``scheduled`` until its dispatch time, then
claimable), a ``skipped`` record with its reason, or - when it is late, its dispatch
time more than ``misfire_threshold`` ago because every replica was down or the schedule
was paused - whatever the schedule's misfire policy makes of it (``domain.misfire``):
a run, a ``missed`` record, or a count in one summary record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.calendar import BusinessCalendar
from domain.errors import NotLeader
from domain.events import DomainEvent
from domain.firing import SkipReason
from domain.ids import CalendarId, RunId
from domain.job import Job
from domain.misfire import MisfireRules, MissedSummary, Triage, is_late, triage
from domain.overlap import ACTIVE, Admission, Decision, admit, admit_overdue
from domain.planning import PlannedFire, plan
from domain.ports import LEADER, Database, HolidayProvider, UnitOfWork
from domain.quarantine import reason_of
from domain.run import NewRun, Run, RunStatus
from domain.schedule import Schedule
from service import telemetry
from service.loops.instant import InstantDelivery, send, stage
from service.loops.leadership import Fence, fenced
from service.usecases.calendars import business_calendar
from service.usecases.runs import UNREADABLE

log = logging.getLogger("kairos.materialiser")

__all__ = ["LEADER", "Pass", "materialise_due"]  # LEADER: where callers found it

_NO_SPAN = nullcontext()
_Missed = MissedSummary | bool | None  # a summary, a missed fire (True), or neither
_Planned = tuple[Schedule, Job, list[tuple[PlannedFire, _Missed]]]  # a schedule's records


@dataclass(frozen=True, slots=True)
class Pass:
    schedules: int  # schedules advanced
    runs: int  # runs newly inserted (a fire already materialised counts 0)
    completed: int
    delivered: int = 0  # of those, delivered on the instant path (``service.loops.instant``)
    # The delivered runs' lateness (publish - nominal, seconds), as a claim reports its
    # runs' (``kairos_fire_lateness_seconds``).
    lateness: tuple[float, ...] = ()


async def materialise_due(
    db: Database,
    *,
    fence: Fence,
    horizon: timedelta = timedelta(seconds=1),
    limit: int = 500,
    per_schedule: int = 1000,
    misfire_threshold: timedelta = timedelta(seconds=60),
    holidays: HolidayProvider | None = None,
    instant: InstantDelivery | None = None,
    window: timedelta | None = None,
) -> Pass:
    """One pass. ``holidays`` reads calendars' holiday sources (needed once any schedule
    uses a calendar with sources). ``fence``: the partitions this pass acts on, with the
    epochs it holds them at. ``instant``: deliver broker targets' fires on the instant
    path (``service.loops.instant``). ``window``: the pass takes only the fires due within
    it of its first one (or of now), so a fire delivered at its instant is not held back
    until the end of the whole horizon before its pass commits."""
    async with fenced(db, fence) as tx:
        now = await tx.now()
        began = instant.clock.now() if instant is not None else now  # ``now`` on the clock
        until = now + horizon
        due = await tx.schedules.due(until, limit, fence.partitions)
        if window is not None and due:
            first = min(s.next_fire_at for s in due if s.next_fire_at is not None)
            until = min(until, max(now, first) + window)
            due = [s for s in due if s.next_fire_at is not None and s.next_fire_at <= until]
        jobs: dict[object, Job] = {}
        events: list[DomainEvent] = []
        completed = 0
        progress: list[tuple[Schedule, int]] = []
        planned: list[_Planned] = []
        calendars: dict[CalendarId, BusinessCalendar] = {}  # current versions, this pass
        for schedule in due:
            try:
                job = jobs.get(schedule.job_id)
                if job is None:
                    job = jobs[schedule.job_id] = await tx.jobs.get(schedule.job_id)
                calendar = None
                if (calendar_id := schedule.timing.calendar_id) is not None:
                    calendar = calendars.get(calendar_id)
                    if calendar is None:
                        found = await business_calendar(tx.calendars, calendar_id, holidays)
                        assert found is not None
                        calendar = calendars[calendar_id] = found
                head, fires, next_at, exhausted = _due_fires(
                    schedule, now, until, per_schedule, misfire_threshold, calendar=calendar
                )
                dispatched = sum(1 for f in fires if f.skipped is None)
                records: list[tuple[PlannedFire, _Missed]] = [(fire, None) for fire in fires]
                if head is not None:
                    dispatched += head.fires
                    records = [*_late_records(head), *((f, None) for f in head.run), *records]
                if exhausted:
                    advanced, done_events = schedule.complete(now=now, dispatched=dispatched)
                else:
                    advanced = schedule.advance(
                        next_fire_at=next_at, dispatched=dispatched, now=now
                    )
            except NotLeader:
                raise
            except (*UNREADABLE, AssertionError, RecursionError) as exc:
                # This schedule (or its job or calendar) cannot be planned: it is paused,
                # saying why, and the pass goes on with every other schedule.
                events += await _quarantine(tx, schedule, exc, now)
                continue
            planned.append((schedule, job, records))
            if exhausted:
                events.extend(done_events)
                completed += 1
            progress.append((advanced, schedule.version))
        takes = instant.takes if instant is not None else None
        fired, fired_events, candidates = await _admit(
            tx, planned, now, misfire_threshold, takes=takes
        )
        events += fired_events
        await tx.schedules.advance_many(progress)
        staged = None
        if instant is not None and candidates:
            # Written succeeded now, under the schedules' locks; committed only once the
            # messages, sent at their instants, were acknowledged (``send``).
            at = now + (instant.clock.now() - began)
            fired, delivered_events, staged = stage(instant, fired, candidates, at=at)
            events += delivered_events
        new = await tx.runs.insert_new(fired)
        if len(new) < len(fired):
            # A fire already materialised (its key exists: an earlier pass's run, a
            # backfill's) is neither delivered nor reported again by this pass.
            stale = {run.id for run in fired if run.id not in new}
            events = [e for e in events if e.aggregate_id not in stale]
            if staged is not None:
                staged = staged.keep(new)
        await tx.outbox.append(events, traceparent=telemetry.current_traceparent())
        if staged is not None and staged.groups:
            assert instant is not None
            await send(instant, staged, now=now + (instant.clock.now() - began))
        return Pass(
            schedules=len(due),
            runs=len(new),
            completed=completed,
            delivered=staged.messages if staged is not None else 0,
            lateness=staged.lateness if staged is not None else (),
        )


async def _quarantine(
    tx: UnitOfWork, schedule: Schedule, error: BaseException, now: datetime
) -> list[DomainEvent]:
    reason = reason_of("PLANNING_FAILED: this schedule cannot be planned", error)
    log.error("schedule %s of tenant %s paused: %s", schedule.id, schedule.tenant_id, reason)
    paused, events = schedule.pause(now=now, reason=reason)
    await tx.schedules.save(paused, expected_version=schedule.version)
    return events


async def _admit(
    tx: UnitOfWork,
    planned: list[_Planned],
    now: datetime,
    threshold: timedelta,
    *,
    takes: Callable[[Job], bool] | None = None,
) -> tuple[list[Run], list[DomainEvent], list[tuple[int, Job]]]:
    """Each planned record as a run, its fires admitted against the schedule's earlier
    active runs (overlap, ``domain.overlap``); ``replace`` cancels those runs here. An
    overdue fire (due, but not a misfire: a hand-over's gap) is admitted as a catch-up
    (``admit_overdue``), and so is any later fire of its schedule in the same pass: the
    runs of the pass's earlier overdue fires had no chance to run before it. A misfire's
    run counts as any earlier active run does.

    Also the instant path's candidates (index in the runs, job): dispatched runs of a
    job ``takes`` accepts, admitted with no earlier active run, not buffered, not
    waiting for upstream."""
    active = await tx.runs.active(
        [
            (schedule.tenant_id, schedule.id)
            for schedule, _, records in planned
            if any(_dispatched(fire, missed) for fire, missed in records)
        ]
    )
    runs: list[Run] = []
    events: list[DomainEvent] = []
    candidates: list[tuple[int, Job]] = []
    fresh: dict[RunId, int] = {}  # runs of this pass, by id: their index in ``runs``
    for schedule, job, records in planned:
        instant = takes is not None and not schedule.depends_on and takes(job)
        earlier = list(active.get(schedule.id, ()))
        caught_up: set[RunId] = set()  # this pass's runs of a catch-up
        for fire, missed in records:
            decision = None
            before: list[Run] = []
            # Overdue (due, but not a misfire), or right behind overdue ones in this pass
            # (within the horizon): either way their runs have not had a chance to run.
            overdue = now - threshold <= fire.dispatch_at <= now or bool(caught_up)
            if _dispatched(fire, missed):
                before = [r for r in earlier if r.nominal_at < fire.nominal_at]
                if overdue:
                    decision = admit_overdue(
                        schedule.overlap_policy,
                        schedule.max_buffered,
                        [r for r in before if r.id not in caught_up],
                        [r for r in before if r.id in caught_up],
                    )
                else:
                    decision = admit(schedule.overlap_policy, schedule.max_buffered, before)
                if decision.admission is Admission.REPLACE:
                    reason = f"replaced by the fire of {fire.nominal_at.isoformat()}"
                    for old in decision.cancel:
                        events += await _cancel(tx, old, runs, fresh, reason=reason, now=now)
                    gone = {r.id for r in decision.cancel}
                    earlier = [r for r in earlier if r.id not in gone]
            run, run_events = _materialise(
                schedule, job, fire, now, missed=missed, decision=decision
            )
            fresh[run.id] = len(runs)
            if (
                instant
                and decision is not None
                and decision.admission is Admission.RUN
                and not before
                and run.status in (RunStatus.SCHEDULED, RunStatus.PENDING)
            ):
                candidates.append((len(runs), job))
            runs.append(run)
            events.extend(run_events)
            if decision is not None and decision.admission is not Admission.SKIP:
                earlier.append(run)
                if overdue:
                    caught_up.add(run.id)
    return runs, events, candidates


def _due_fires(
    schedule: Schedule,
    now: datetime,
    until: datetime,
    per_schedule: int,
    threshold: timedelta,
    *,
    calendar: BusinessCalendar | None = None,
) -> tuple[Triage | None, list[PlannedFire], datetime | None, bool]:
    """(late head triaged or None, fires up to ``until`` after it, next nominal, done)."""
    assert schedule.next_fire_at is not None

    def planned(after: datetime) -> Iterator[PlannedFire]:
        return plan(
            schedule.timing,
            after,
            inclusive=True,
            calendar=calendar,
            schedule_id=str(schedule.id),
            fired=schedule.fire_count,
        )

    upcoming = planned(schedule.next_fire_at)
    head = None
    if is_late(schedule.next_fire_at, now, threshold):
        rules = MisfireRules(
            policy=schedule.misfire_policy,
            catchup_window=schedule.catchup_window,
            max_catchup=schedule.max_catchup,
            threshold=threshold,
        )
        head = triage(upcoming, now=now, rules=rules, run_limit=per_schedule, replan=planned)
        upcoming = head.rest
        if len(head.run) >= per_schedule:  # run_all's catch-up goes on next pass
            following = next(upcoming, None)
            done = following is None
            return head, [], None if following is None else following.nominal_at, done
    fires: list[PlannedFire] = []
    for fire in upcoming:
        if fire.nominal_at > until or len(fires) >= per_schedule:
            return head, fires, fire.nominal_at, False
        fires.append(fire)
    return head, fires, None, True


def _late_records(head: Triage) -> Iterator[tuple[PlannedFire, _Missed]]:
    """The triage's records: the summary first (it stands for the oldest fires), then
    each kept fire (missed, or skipped if the calendar, a window or DST skipped it)."""
    if head.summary is not None:
        last = head.summary.last_at
        yield PlannedFire(nominal_at=last, dispatch_at=last), head.summary
    for fire in head.missed:
        yield fire, fire.skipped is None


def _dispatched(fire: PlannedFire, missed: _Missed) -> bool:
    """A fire that becomes a run to execute (not a skipped, missed or summary record)."""
    return fire.skipped is None and not missed


async def _cancel(
    tx: UnitOfWork,
    old: Run,
    runs: list[Run],
    fresh: dict[RunId, int],
    *,
    reason: str,
    now: datetime,
) -> list[DomainEvent]:
    """Overlap ``replace``: end an earlier run (one of this pass's, or a stored one, which
    is re-read under lock with its attempts; a running one's worker loses its lease)."""
    if old.id in fresh:
        runs[fresh[old.id]], events = runs[fresh[old.id]].cancel(reason=reason, now=now)
        return events
    stored = await tx.runs.get(old.id, lock=True)
    if stored.status not in ACTIVE:
        return []
    cancelled, events = stored.cancel(reason=reason, now=now)
    await tx.runs.save_many([cancelled])
    return events


def _materialise(
    schedule: Schedule,
    job: Job,
    fire: PlannedFire,
    now: datetime,
    *,
    missed: _Missed,
    decision: Decision | None = None,
) -> tuple[Run, list[DomainEvent]]:
    summary = missed if isinstance(missed, MissedSummary) else None
    admission = decision.admission if decision else None
    skipped = fire.skipped.value if fire.skipped else None
    if admission is Admission.SKIP:
        skipped = SkipReason.OVERLAP.value
    waiting = None
    if schedule.depends_on and _dispatched(fire, missed) and skipped is None:
        waiting = "waiting for upstream schedules' runs of the same period"
    traced = telemetry.tracing()
    attributes = (
        {
            "kairos.tenant_id": schedule.tenant_id,
            "kairos.schedule_id": str(schedule.id),
            "kairos.nominal_at": fire.nominal_at.isoformat(),
            "kairos.fire": "skipped" if skipped else "missed" if missed else "run",
            "kairos.lateness_seconds": (now - fire.dispatch_at).total_seconds(),
        }
        if traced
        else None
    )
    # Each fire starts its own trace: its delivery spans (any process) and its run's
    # events carry it, as a manual trigger's carry the request's. With no tracing
    # configured there is no trace to start.
    fire_span = telemetry.span("fire", root=True, attributes=attributes) if traced else _NO_SPAN
    with fire_span as current:
        new = NewRun(
            tenant_id=schedule.tenant_id,
            schedule_id=schedule.id,
            job_id=job.id,
            nominal_at=fire.nominal_at,
            dispatch_at=fire.dispatch_at,
            max_attempts=job.max_attempts,
            priority=job.priority,
            capability=job.capability,
            payload=schedule.payload,
            calendar=fire.calendar,
            traceparent=telemetry.current_traceparent() if traced else None,
            schedule_name=schedule.name,
            job_name=job.name,
        )
        buffered = admission is Admission.BUFFER
        if skipped is not None:
            run, events = Run.skipped(new, reason=skipped, now=now)
        elif missed:
            run, events = Run.missed(
                new,
                now=now,
                reason=summary.reason if summary else "misfire",
                count=summary.count if summary else None,
            )
        elif waiting is not None:
            run, events = Run.waiting_on_upstream(new, reason=waiting, now=now, buffered=buffered)
        else:
            run, events = Run.dispatched(new, now=now, buffered=buffered)
        if current is not None:
            current.set_attribute("kairos.run_id", str(run.id))
    return run, events

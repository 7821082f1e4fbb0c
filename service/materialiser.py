"""The leader's materialiser: turn due fires into runs, exactly once per fire.

One pass, in one system transaction fenced by the leader lease:
lock due schedules (SKIP LOCKED) -> plan each one's fires up to now + horizon -> insert
runs keyed by (tenant, schedule, nominal) with ON CONFLICT DO NOTHING -> advance each
schedule's next fire and fire count -> complete schedules with no fires left -> outbox.

Every fire becomes a run: a dispatched one (``scheduled`` until its dispatch time, then
claimable) or a ``skipped`` record with its reason. Misfire policies (what to do with
fires missed while Kairos was down) arrive with the operating-schedules work; until
then every missed fire is run, oldest first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.events import DomainEvent
from domain.job import Job
from domain.planning import PlannedFire, plan
from domain.ports import Database
from domain.run import Run
from domain.schedule import Schedule

LEADER = "scheduler"


@dataclass(frozen=True, slots=True)
class Pass:
    schedules: int  # schedules advanced
    runs: int  # runs newly inserted (a fire already materialised counts 0)
    completed: int


async def materialise_due(
    db: Database,
    *,
    holder: str,
    epoch: int,
    horizon: timedelta = timedelta(seconds=1),
    limit: int = 500,
    per_schedule: int = 1000,
) -> Pass:
    async with db.system() as tx:
        await tx.leader.fence(LEADER, holder, epoch)
        now = await tx.now()
        until = now + horizon
        due = await tx.schedules.due(until, limit)
        jobs: dict[object, Job] = {}
        runs: list[Run] = []
        events: list[DomainEvent] = []
        completed = 0
        progress: list[tuple[Schedule, int]] = []
        for schedule in due:
            job = jobs.get(schedule.job_id)
            if job is None:
                job = jobs[schedule.job_id] = await tx.jobs.get(schedule.job_id)
            fires, next_at, exhausted = _due_fires(schedule, until, per_schedule)
            for fire in fires:
                run, run_events = Run.materialise(
                    tenant_id=schedule.tenant_id,
                    schedule_id=schedule.id,
                    job_id=job.id,
                    nominal_at=fire.nominal_at,
                    dispatch_at=fire.dispatch_at,
                    max_attempts=job.max_attempts,
                    priority=job.priority,
                    capability=job.target.kind.value,
                    now=now,
                    payload=schedule.payload,
                    calendar=fire.calendar,
                    skipped_reason=fire.skipped.value if fire.skipped else None,
                )
                runs.append(run)
                events.extend(run_events)
            dispatched = sum(1 for f in fires if f.skipped is None)
            advanced = schedule.advance(next_fire_at=next_at, dispatched=dispatched, now=now)
            if exhausted:
                advanced, done_events = advanced.complete(now=now)
                events.extend(done_events)
                completed += 1
            progress.append((advanced, schedule.version))
        await tx.schedules.advance_many(progress)
        inserted = await tx.runs.add_many(runs)
        await tx.outbox.append(events)
        return Pass(schedules=len(due), runs=inserted, completed=completed)


def _due_fires(
    schedule: Schedule, until: datetime, per_schedule: int
) -> tuple[list[PlannedFire], datetime | None, bool]:
    """Fires from the schedule's next fire up to ``until``; (fires, next nominal, done)."""
    assert schedule.next_fire_at is not None
    fires: list[PlannedFire] = []
    for fire in plan(
        schedule.timing,
        schedule.next_fire_at,
        inclusive=True,
        schedule_id=str(schedule.id),
        fired=schedule.fire_count,
    ):
        if fire.nominal_at > until or len(fires) >= per_schedule:
            return fires, fire.nominal_at, False
        fires.append(fire)
    return fires, None, True

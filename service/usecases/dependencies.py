"""Dependencies in the engine: check upstreams when a schedule names them, and release
or fail waiting runs (the leader's resolver). The period rule is in
``domain.dependencies``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from domain.dependencies import Verdict, upstream_fire, verdict
from domain.errors import InvalidSchedule, NotFound
from domain.events import DomainEvent
from domain.ids import ScheduleId
from domain.ports import Database, ScheduleRepository
from domain.run import Run, RunStatus
from domain.schedule import Schedule, ScheduleState
from service import telemetry
from service.loops.leadership import Fence, fenced


async def check_upstreams(
    schedules: ScheduleRepository, schedule_id: ScheduleId, upstreams: Sequence[ScheduleId]
) -> None:
    """Every upstream is a live schedule of the tenant, and no chain of upstreams leads
    back to ``schedule_id`` (a cycle would wait forever)."""
    seen: set[ScheduleId] = set()
    stack = list(upstreams)
    first = set(upstreams)
    while stack:
        current = stack.pop()
        if current == schedule_id:
            raise InvalidSchedule("depends_on", "the dependencies would form a cycle")
        if current in seen:
            continue
        seen.add(current)
        try:
            upstream = await schedules.get(current)
        except NotFound:
            if current in first:
                raise InvalidSchedule("depends_on", f"no schedule {current}") from None
            continue  # a deleted link further up cannot close a cycle
        if upstream.state is ScheduleState.DELETED and current in first:
            raise InvalidSchedule("depends_on", f"schedule {current} is deleted")
        stack.extend(upstream.depends_on)


async def resolve_waiting(db: Database, *, fence: Fence, limit: int = 500) -> int:
    """Release waiting runs whose upstream runs succeeded; fail those whose upstream run
    ended without success. Returns how many runs changed; ``NotLeader``, and nothing
    changed, when ``fence`` no longer leads."""
    async with fenced(db, fence) as tx:
        now = await tx.now()
        waiting = await tx.runs.lock_waiting(limit, fence.partitions)
        schedules: dict[ScheduleId, Schedule] = {}

        async def schedule(schedule_id: ScheduleId) -> Schedule | None:
            if schedule_id not in schedules:
                try:
                    schedules[schedule_id] = await tx.schedules.get(schedule_id)
                except NotFound:
                    return None
            return schedules[schedule_id]

        # Which upstream fire each waiting run needs, then one query per upstream.
        needs: list[tuple[Run, list[tuple[Schedule, datetime]]]] = []
        wanted: dict[ScheduleId, set[datetime]] = {}
        for run in waiting:
            downstream = await schedule(run.schedule_id)
            if downstream is None:
                continue
            upstreams: list[tuple[Schedule, datetime]] = []
            needs.append((run, upstreams))
            for upstream_id in downstream.depends_on:
                upstream = await schedule(upstream_id)
                if upstream is None:
                    continue  # gone: nothing to wait for
                fire = upstream_fire(upstream.timing, run.nominal_at, str(upstream.id))
                if fire is not None:
                    upstreams.append((upstream, fire))
                    wanted.setdefault(upstream.id, set()).add(fire)
        found: dict[tuple[ScheduleId, datetime], RunStatus] = {}
        for upstream_id, fires in wanted.items():
            for upstream_run in await tx.runs.at_nominals(upstream_id, sorted(fires)):
                found[(upstream_id, upstream_run.nominal_at)] = upstream_run.status
        changed: list[Run] = []
        events: list[DomainEvent] = []
        for run, upstreams in needs:
            outcome, why = Verdict.GO, ""
            for upstream, fire in upstreams:
                status = found.get((upstream.id, fire))
                answer = verdict(status)
                if answer is Verdict.FAIL:
                    assert status is not None
                    outcome = answer
                    why = f"{upstream.name} ({fire.isoformat()}) ended {status.value}"
                    break
                if answer is Verdict.WAIT:
                    outcome = Verdict.WAIT
            if outcome is Verdict.GO:
                changed.append(run.release(now=now))
            elif outcome is Verdict.FAIL:
                dead, more = run.fail_dependency(reason=why, now=now)
                changed.append(dead)
                events += more
        await tx.runs.save_many(changed)
        await tx.outbox.append(events, traceparent=telemetry.current_traceparent())
        return len(changed)

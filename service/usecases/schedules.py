"""Schedule use cases: create, update, pause, resume, delete, read, list."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from domain.changes import Keep
from domain.errors import Conflict, Forbidden, InvalidRequest, NotFound
from domain.events import DomainEvent
from domain.ids import JobId, ScheduleId, TenantId, new_id
from domain.limits import TenantLimits
from domain.planning import plan
from domain.ports import (
    Database,
    HolidayProvider,
    Keyset,
    RunFilter,
    ScheduleSearch,
    UnitOfWork,
)
from domain.run import Run, RunStatus
from domain.schedule import Schedule, ScheduleState
from domain.timing import Timing
from domain.triggers import EventTrigger, OneShotTrigger
from service import telemetry
from service.usecases.calendars import business_calendar, require_calendar
from service.usecases.commands import CreateSchedule, UpdateSchedule
from service.usecases.dependencies import check_upstreams
from service.usecases.preview import Preview, preview
from service.usecases.retention import ensure_retention

# Runs of a deleted schedule that have not started are cancelled with it.
_NOT_STARTED = frozenset({RunStatus.SCHEDULED, RunStatus.PENDING})
# Pausing cancels only runs whose dispatch time is still ahead (materialised within the
# leader's horizon); a pending run's fire came before the pause and still runs.
_NOT_DUE = frozenset({RunStatus.SCHEDULED})


class ResumeFrom(enum.StrEnum):
    LAST_FIRE = "last_fire"  # fires due during the pause follow the misfire policy
    NOW = "now"  # the pause was intended: no misfires, the next fire is the first from now


def _first_fire(
    timing: Timing, now: datetime, schedule_id: ScheduleId, catchup_window: timedelta
) -> datetime | None:
    """The first fire at or after ``now``. A ONE_SHOT whose instant passed less than
    ``catchup_window`` ago (a request for "now" arriving a few ms late) still fires."""
    start = now - catchup_window if isinstance(timing.trigger, OneShotTrigger) else now
    first = next(iter(plan(timing, start, inclusive=True, schedule_id=str(schedule_id))), None)
    return first.nominal_at if first is not None else None


async def create_schedule(
    db: Database, command: CreateSchedule, *, limits: TenantLimits | None = None
) -> Schedule:
    """Store a new schedule whose next fire is the first at or after the database's now.

    Fires before creation are not owed (a new schedule has no misfires), except a
    ONE_SHOT missed by less than its ``catchup_window``, which fires once, late.
    ``limits``: the tenant's quotas (schedule count, minimum interval, payload size).
    """
    tenant_id, timing = command.tenant_id, command.timing
    async with db.transaction(tenant_id) as tx:
        await _job_of(tx, command.job_id)  # refused before anything is written
        if limits is not None:
            limits.check_payload(command.payload)
            limits.check_count(await tx.schedules.count_live())
            limits.check_interval(timing, await tx.now())
        await require_calendar(tx.calendars, timing.calendar_id)
        schedule_id = ScheduleId(new_id())
        await check_upstreams(tx.schedules, schedule_id, command.depends_on)
        now = await tx.now()
        schedule, events = Schedule.create(
            now=now,
            id=schedule_id,
            tenant_id=tenant_id,
            name=command.name,
            job_id=command.job_id,
            timing=timing,
            payload=command.payload,
            misfire_policy=command.misfire_policy,
            catchup_window=command.catchup_window,
            max_catchup=command.max_catchup,
            overlap_policy=command.overlap_policy,
            max_buffered=command.max_buffered,
            depends_on=command.depends_on,
            labels=command.labels,
            next_fire_at=_first_fire(timing, now, schedule_id, command.catchup_window),
        )
        await tx.schedules.add(schedule)
        if schedule.next_fire_at is None and not isinstance(timing.trigger, EventTrigger):
            done, more = schedule.complete(now=now)
            await tx.schedules.save(done, expected_version=schedule.version)
            events += more
            schedule = done
        events += await ensure_retention(tx, tenant_id, now)
        await tx.outbox.append(events, traceparent=telemetry.current_traceparent())
        return schedule


def _changes(schedule: Schedule, command: UpdateSchedule) -> bool:
    """Whether ``command`` changes anything of ``schedule``."""
    return any(
        not isinstance(new, Keep) and new != old
        for new, old in (
            (command.name, schedule.name),
            (command.job_id, schedule.job_id),
            (command.timing, schedule.timing),
            (command.payload, schedule.payload),
            (command.misfire_policy, schedule.misfire_policy),
            (command.catchup_window, schedule.catchup_window),
            (command.max_catchup, schedule.max_catchup),
            (command.overlap_policy, schedule.overlap_policy),
            (command.max_buffered, schedule.max_buffered),
            (command.depends_on, schedule.depends_on),
            (command.labels, schedule.labels),
        )
    )


async def update_schedule(
    db: Database, command: UpdateSchedule, *, limits: TenantLimits | None = None
) -> Schedule:
    """Change a schedule. Changing its timing restarts it from now: the next fire is the
    first of the new rule at or after now (fires of the old rule are not owed).
    Changes equal to the stored values are a no-op (no version bump, no event)."""
    schedule_id, expected_version = command.schedule_id, command.expected_version
    timing = None if isinstance(command.timing, Keep) else command.timing
    async with db.transaction(command.tenant_id) as tx:
        if limits is not None:
            if not isinstance(command.payload, Keep):
                limits.check_payload(command.payload)
            if timing is not None:
                limits.check_interval(timing, await tx.now())
        if timing is not None:
            await require_calendar(tx.calendars, timing.calendar_id)
        schedule = _managed_by_us(_live(await tx.schedules.get(schedule_id)))
        if expected_version is not None and expected_version != schedule.version:
            raise Conflict(
                f"schedule {schedule_id} is at version {schedule.version}",
                version=schedule.version,
                expected_version=expected_version,
            )
        if not isinstance(command.job_id, Keep):
            await _job_of(tx, command.job_id)
        if not isinstance(command.depends_on, Keep):
            await check_upstreams(tx.schedules, schedule_id, command.depends_on)
        if not _changes(schedule, command):
            return schedule
        now = await tx.now()
        updated, events = schedule.update(
            now=now,
            name=command.name,
            job_id=command.job_id,
            timing=command.timing,
            payload=command.payload,
            misfire_policy=command.misfire_policy,
            catchup_window=command.catchup_window,
            max_catchup=command.max_catchup,
            overlap_policy=command.overlap_policy,
            max_buffered=command.max_buffered,
            depends_on=command.depends_on,
            labels=command.labels,
        )
        if timing is not None and updated.state in (ScheduleState.ENABLED, ScheduleState.PAUSED):
            first = _first_fire(updated.timing, now, updated.id, updated.catchup_window)
            updated = updated.advance(next_fire_at=first, dispatched=0, now=now)
        await tx.schedules.save(updated, expected_version=schedule.version)
        await tx.outbox.append(events, traceparent=telemetry.current_traceparent())
        return updated


async def pause_schedule(
    db: Database,
    *,
    tenant_id: TenantId,
    schedule_id: ScheduleId,
    note: str | None = None,
) -> Schedule:
    """Stop firing; the next fire stays visible. Pausing a paused schedule is a no-op.
    ``note``: why (kept as the schedule's ``state_reason`` until it resumes)."""
    async with db.transaction(tenant_id) as tx:
        schedule = _managed_by_us(_live(await tx.schedules.get(schedule_id)))
        now = await tx.now()
        paused, events = schedule.pause(now=now, reason=note or None)
        if not events:
            return schedule
        await tx.schedules.save(paused, expected_version=schedule.version)
        events += await _cancel_waiting(tx, schedule_id, _NOT_DUE, "schedule paused", now)
        await tx.outbox.append(events, traceparent=telemetry.current_traceparent())
        return paused


async def resume_schedule(
    db: Database,
    *,
    tenant_id: TenantId,
    schedule_id: ScheduleId,
    resume_from: ResumeFrom = ResumeFrom.LAST_FIRE,
) -> Schedule:
    """Fire again. From ``last_fire`` the fires due during the pause are misfires (the
    schedule's policy decides); from ``now`` they are not owed."""
    async with db.transaction(tenant_id) as tx:
        schedule = _managed_by_us(_live(await tx.schedules.get(schedule_id)))
        now = await tx.now()
        resumed, events = schedule.resume(now=now)
        if not events:
            return schedule
        if resume_from is ResumeFrom.NOW and resumed.next_fire_at is not None:
            first = _first_fire(resumed.timing, now, resumed.id, timedelta(0))
            resumed = resumed.advance(next_fire_at=first, dispatched=0, now=now)
        await tx.schedules.save(resumed, expected_version=schedule.version)
        await tx.outbox.append(events, traceparent=telemetry.current_traceparent())
        return resumed


async def delete_schedule(db: Database, *, tenant_id: TenantId, schedule_id: ScheduleId) -> None:
    """Delete (soft: runs and history stay); runs not yet started are cancelled."""
    async with db.transaction(tenant_id) as tx:
        schedule = _managed_by_us(_live(await tx.schedules.get(schedule_id)))
        now = await tx.now()
        gone, events = schedule.delete(now=now)
        await tx.schedules.save(gone, expected_version=schedule.version)
        events += await _cancel_waiting(tx, schedule_id, _NOT_STARTED, "schedule deleted", now)
        await tx.outbox.append(events, traceparent=telemetry.current_traceparent())


async def _cancel_waiting(
    tx: UnitOfWork,
    schedule_id: ScheduleId,
    statuses: frozenset[RunStatus],
    reason: str,
    now: datetime,
) -> list[DomainEvent]:
    """Cancel the schedule's runs in ``statuses`` (re-checked under lock)."""
    waiting = await tx.runs.list(
        RunFilter(schedule_id=schedule_id, statuses=statuses), after=None, limit=10_000
    )
    cancelled, events = [], []
    for run in await tx.runs.get_many([r.id for r in waiting], lock=True):
        if run.status in statuses:
            done, more = run.cancel(reason=reason, now=now)
            cancelled.append(done)
            events += more
    await tx.runs.save_many(cancelled)
    return events


async def upcoming_fires(
    db: Database,
    *,
    tenant_id: TenantId,
    schedule_id: ScheduleId,
    count: int,
    holidays: HolidayProvider | None,
    include_skipped: bool = False,
) -> Preview:
    """The schedule's next ``count`` fires from its next fire (a paused schedule's too),
    planned as the materialiser will (its calendar's current version included); none for
    a completed schedule. ``include_skipped``: the fires skipped on the way too, each
    with its reason (they do not count towards ``count``)."""
    async with db.transaction(tenant_id) as tx:
        schedule = _live(await tx.schedules.get(schedule_id))
        calendar = await business_calendar(tx.calendars, schedule.timing.calendar_id, holidays)
    if schedule.next_fire_at is None:
        return Preview(fires=[], exhausted=True, scan_limited=False)
    return preview(
        schedule.timing,
        start=schedule.next_fire_at,
        count=count,
        calendar=calendar,
        schedule_id=str(schedule.id),
        fired=schedule.fire_count,
        include_skipped=include_skipped,
    )


async def creation_time(db: Database, *, tenant_id: TenantId) -> datetime:
    """The time a schedule created now is created at (the database's clock)."""
    async with db.transaction(tenant_id) as tx:
        return await tx.now()


async def last_runs(
    db: Database, *, tenant_id: TenantId, schedule_ids: Sequence[ScheduleId]
) -> Mapping[ScheduleId, Run]:
    """Each schedule's last run (of its latest fire that has come); none: absent."""
    async with db.transaction(tenant_id) as tx:
        return await tx.runs.latest(schedule_ids)


async def get_schedule(db: Database, *, tenant_id: TenantId, schedule_id: ScheduleId) -> Schedule:
    async with db.transaction(tenant_id) as tx:
        return _live(await tx.schedules.get(schedule_id))


async def _job_of(tx: UnitOfWork, job_id: JobId) -> None:
    """The job a schedule's body names must exist: an unknown one is a bad field of the
    body (422 naming ``job_id``), not a missing resource of the URL."""
    try:
        await tx.jobs.get(job_id)
    except NotFound:
        raise InvalidRequest(f"job_id: no job {job_id}", field="job_id") from None


def _managed_by_us(schedule: Schedule) -> Schedule:
    """Changes through the API stop at system schedules (Kairos manages them)."""
    if schedule.system:
        raise Forbidden(
            f"{schedule.name} is a system schedule, managed by Kairos", schedule=schedule.name
        )
    return schedule


def _live(schedule: Schedule) -> Schedule:
    """A deleted schedule is gone for its users (its runs and history stay)."""
    if schedule.state is ScheduleState.DELETED:
        raise NotFound("schedule", str(schedule.id))
    return schedule


async def list_schedules(
    db: Database, *, tenant_id: TenantId, after: Keyset | None, limit: int
) -> Sequence[Schedule]:
    async with db.transaction(tenant_id) as tx:
        return await tx.schedules.list(after=after, limit=limit)


async def schedules_named(db: Database, *, tenant_id: TenantId, name: str) -> Sequence[Schedule]:
    """The tenant's live schedule called exactly ``name`` (none or one: live names are
    unique)."""
    async with db.transaction(tenant_id) as tx:
        try:
            return [await tx.schedules.by_name(name)]
        except NotFound:
            return []


async def search_schedules(
    db: Database, *, tenant_id: TenantId, query: ScheduleSearch
) -> tuple[Sequence[Schedule], int]:
    """A filtered, sorted page of the tenant's live schedules and how many match."""
    async with db.transaction(tenant_id) as tx:
        return await tx.schedules.search(query)

"""Schedules: when a job runs. Admin writes them; operate pauses, resumes, triggers and
backfills them; read sees them, their next fires, statistics and runs."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Header, Query, Response

from adapters.http import models as m
from adapters.http import requests as r
from adapters.http.audit import Audit, Recorder
from adapters.http.deps import Admin, Context, Ctx, Operate, Read
from adapters.http.pagination import Limit, NameQuery, Page, decode, page
from adapters.http.routes import runs as run_routes
from adapters.http.routes._shared import version
from domain.errors import InvalidRequest
from domain.ids import ScheduleId, TenantId
from domain.schedule import Schedule
from service.usecases import backfills, parsing, schedules
from service.usecases import manual_triggers as triggers
from service.usecases.preview import fire_json

router = APIRouter(tags=["schedules"], responses=m.ERRORS)


@router.post(
    "/schedules", status_code=201, response_model=m.Schedule, response_model_exclude_unset=True
)
async def create_schedule(
    body: r.ScheduleCreate, t: Admin, audit: Audit, ctx: Ctx, response: Response
) -> m.Schedule:
    fields = body.fields()
    # A FIXED_DELAY schedule without start_at is anchored at its creation.
    anchored = parsing.needs_anchor(fields)
    now = await schedules.creation_time(ctx.db, tenant_id=t) if anchored else None
    command = parsing.create_schedule(fields, tenant_id=t, now=now)
    schedule = await schedules.create_schedule(ctx.db, command, limits=ctx.quotas)
    response.headers["Location"] = f"/schedules/{schedule.id}"
    response.headers["ETag"] = f'"{schedule.version}"'
    return _after(audit, schedule)


@router.get("/schedules", response_model=m.SchedulePage, response_model_exclude_unset=True)
async def list_schedules(
    t: Read, ctx: Ctx, limit: Limit = 50, cursor: str | None = None, name: NameQuery = None
) -> Page:
    """``name``: only the schedule with exactly that name (a page of none or one)."""
    if name is not None:
        found = await schedules.schedules_named(ctx.db, tenant_id=t, name=name)
        limit = len(found) + 1  # one page, no cursor
    else:
        found = await schedules.list_schedules(
            ctx.db, tenant_id=t, after=decode(cursor), limit=limit
        )
    last = await schedules.last_runs(ctx.db, tenant_id=t, schedule_ids=[s.id for s in found])
    return page(
        found,
        limit,
        lambda s: m.Schedule.from_domain(s, last.get(s.id)),
        lambda s: (s.created_at, s.id),
    )


@router.get(
    "/schedules/{schedule_id}", response_model=m.Schedule, response_model_exclude_unset=True
)
async def get_schedule(schedule_id: uuid.UUID, t: Read, ctx: Ctx, response: Response) -> m.Schedule:
    schedule = await schedules.get_schedule(
        ctx.db, tenant_id=t, schedule_id=ScheduleId(schedule_id)
    )
    response.headers["ETag"] = f'"{schedule.version}"'
    last = await schedules.last_runs(ctx.db, tenant_id=t, schedule_ids=[schedule.id])
    return m.Schedule.from_domain(schedule, last.get(schedule.id))


@router.patch(
    "/schedules/{schedule_id}", response_model=m.Schedule, response_model_exclude_unset=True
)
async def patch_schedule(
    schedule_id: uuid.UUID,
    body: r.SchedulePatch,
    *,
    t: Admin,
    audit: Audit,
    ctx: Ctx,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> m.Schedule:
    current = await schedules.get_schedule(ctx.db, tenant_id=t, schedule_id=ScheduleId(schedule_id))
    audit.before(m.Schedule.from_domain(current))
    command = parsing.update_schedule(
        body.fields(),
        tenant_id=t,
        schedule_id=ScheduleId(schedule_id),
        current=current.timing,
        expected_version=version(if_match) if if_match else None,
    )
    schedule = await schedules.update_schedule(ctx.db, command, limits=ctx.quotas)
    response.headers["ETag"] = f'"{schedule.version}"'
    return _after(audit, schedule)


@router.post(
    "/schedules/{schedule_id}/pause", response_model=m.Schedule, response_model_exclude_unset=True
)
async def pause_schedule(
    schedule_id: uuid.UUID,
    *,
    t: Operate,
    audit: Audit,
    ctx: Ctx,
    response: Response,
    body: Annotated[r.PauseIn | None, Body()] = None,
) -> m.Schedule:
    """``note``: why; the schedule shows it as its ``state_reason`` until it resumes."""
    await _before(audit, ctx, t, ScheduleId(schedule_id))
    schedule = await schedules.pause_schedule(
        ctx.db,
        tenant_id=t,
        schedule_id=ScheduleId(schedule_id),
        note=None if body is None else body.note,
    )
    response.headers["ETag"] = f'"{schedule.version}"'
    return _after(audit, schedule)


@router.post(
    "/schedules/{schedule_id}/resume", response_model=m.Schedule, response_model_exclude_unset=True
)
async def resume_schedule(
    schedule_id: uuid.UUID,
    *,
    t: Operate,
    audit: Audit,
    ctx: Ctx,
    response: Response,
    body: Annotated[r.ResumeIn | None, Body()] = None,
) -> m.Schedule:
    await _before(audit, ctx, t, ScheduleId(schedule_id))
    schedule = await schedules.resume_schedule(
        ctx.db,
        tenant_id=t,
        schedule_id=ScheduleId(schedule_id),
        resume_from=_resume_from("last_fire" if body is None else body.resume_from),
    )
    response.headers["ETag"] = f'"{schedule.version}"'
    return _after(audit, schedule)


@router.post(
    "/schedules/{schedule_id}/trigger", response_model=m.Run, response_model_exclude_unset=True
)
async def trigger_schedule(
    schedule_id: uuid.UUID,
    *,
    t: Operate,
    audit: Audit,
    ctx: Ctx,
    response: Response,
    body: Annotated[r.TriggerIn | None, Body()] = None,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> m.Run:
    await _before(audit, ctx, t, ScheduleId(schedule_id))
    command = parsing.trigger_schedule(
        {} if body is None else body.fields(),
        tenant_id=t,
        schedule_id=ScheduleId(schedule_id),
        idempotency_key=idempotency_key,
    )
    done = await triggers.trigger_schedule(ctx.db, command, limits=ctx.quotas)
    await _after_read(audit, ctx, t, ScheduleId(schedule_id))
    response.status_code = 201 if done.created else 200
    response.headers["Location"] = f"/runs/{done.run.id}"
    return m.Run.from_domain(done.run)


@router.post(
    "/schedules/{schedule_id}/backfill",
    response_model=m.Backfill,
    response_model_exclude_unset=True,
)
async def backfill_schedule(
    schedule_id: uuid.UUID,
    body: r.BackfillIn,
    *,
    t: Operate,
    audit: Audit,
    ctx: Ctx,
    response: Response,
) -> m.Backfill:
    await _before(audit, ctx, t, ScheduleId(schedule_id))
    command = parsing.start_backfill(
        body.fields(), tenant_id=t, schedule_id=ScheduleId(schedule_id)
    )
    started = await backfills.start_backfill(ctx.db, command, holidays=ctx.holidays)
    await _after_read(audit, ctx, t, ScheduleId(schedule_id))
    response.status_code = 201 if started.created else 200
    response.headers["Location"] = f"/backfills/{started.backfill.id}"
    return m.Backfill.from_domain(started.backfill)


@router.get(
    "/schedules/{schedule_id}/stats", response_model=m.Stats, response_model_exclude_unset=True
)
async def schedule_stats(
    schedule_id: uuid.UUID, t: Read, ctx: Ctx, since: str | None = None
) -> m.Stats:
    return await run_routes.stats_of(ctx, t, ScheduleId(schedule_id), since)


@router.get(
    "/schedules/{schedule_id}/next", response_model=m.NextFires, response_model_exclude_unset=True
)
async def next_fires(
    schedule_id: uuid.UUID,
    t: Read,
    ctx: Ctx,
    count: Annotated[int, Query(ge=1, le=1000)] = 10,
    include_skipped: bool = False,
) -> dict[str, object]:
    """``include_skipped``: the fires skipped on the way too (``skipped: true`` with
    their ``reason``); they do not count towards ``count``."""
    found = await schedules.upcoming_fires(
        ctx.db,
        tenant_id=t,
        schedule_id=ScheduleId(schedule_id),
        count=count,
        holidays=ctx.holidays,
        include_skipped=include_skipped,
    )
    return {"items": [fire_json(f) for f in found.fires], "exhausted": found.exhausted}


@router.get(
    "/schedules/{schedule_id}/runs", response_model=m.RunPage, response_model_exclude_unset=True
)
async def schedule_runs(
    schedule_id: uuid.UUID,
    t: Read,
    ctx: Ctx,
    *,
    limit: Limit = 50,
    cursor: str | None = None,
    status: Annotated[list[str] | None, Query()] = None,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: str | None = None,
) -> Page:
    await schedules.get_schedule(ctx.db, tenant_id=t, schedule_id=ScheduleId(schedule_id))
    return await run_routes.list_runs(
        t,
        ctx,
        limit=limit,
        cursor=cursor,
        schedule_id=schedule_id,
        status=status,
        from_=from_,
        to=to,
    )


@router.delete("/schedules/{schedule_id}", status_code=204)
async def delete_schedule(schedule_id: uuid.UUID, t: Admin, audit: Audit, ctx: Ctx) -> Response:
    await _before(audit, ctx, t, ScheduleId(schedule_id))
    await schedules.delete_schedule(ctx.db, tenant_id=t, schedule_id=ScheduleId(schedule_id))
    return Response(status_code=204)


def _resume_from(value: str) -> schedules.ResumeFrom:
    try:
        return schedules.ResumeFrom(value)
    except ValueError:
        choices = [r.value for r in schedules.ResumeFrom]
        raise InvalidRequest(f"resume_from must be one of {choices}", field="resume_from") from None


async def _before(audit: Recorder, ctx: Context, t: TenantId, schedule_id: ScheduleId) -> None:
    """The schedule a call addresses, as it was, for its audit entry."""
    found = await schedules.get_schedule(ctx.db, tenant_id=t, schedule_id=schedule_id)
    audit.before(m.Schedule.from_domain(found))


async def _after_read(audit: Recorder, ctx: Context, t: TenantId, schedule_id: ScheduleId) -> None:
    """The schedule as a call that answered something else (a run, a backfill) left it."""
    found = await schedules.get_schedule(ctx.db, tenant_id=t, schedule_id=schedule_id)
    audit.after(m.Schedule.from_domain(found))


def _after(audit: Recorder, schedule: Schedule) -> m.Schedule:
    answer = m.Schedule.from_domain(schedule)
    audit.after(answer)
    return answer

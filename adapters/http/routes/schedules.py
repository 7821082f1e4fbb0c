"""Schedules: when a job runs. Admin writes them; operate pauses, resumes, triggers and
backfills them; read sees them, their next fires, statistics and runs."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Response

from adapters.http import models as m
from adapters.http.deps import Admin, Ctx, Operate, Read
from adapters.http.pagination import Limit, decode, page
from adapters.http.routes import runs as run_routes
from adapters.http.routes._shared import doc, version
from domain.errors import InvalidRequest
from domain.ids import ScheduleId
from service.specs import (
    backfill_request,
    render_backfill,
    render_run,
    render_schedule,
    require,
    schedule_changes,
    trigger_options,
)
from service.usecases import backfills, schedules
from service.usecases import manual_triggers as triggers
from service.usecases.preview import fire_json

router = APIRouter(tags=["schedules"], responses=m.ERRORS)


@router.post(
    "/schedules", status_code=201, response_model=m.Schedule, response_model_exclude_unset=True
)
async def create_schedule(
    body: m.ScheduleCreate, t: Admin, ctx: Ctx, response: Response
) -> dict[str, Any]:
    fields = schedule_changes(doc(body))
    require(fields, "name", "job_id")
    schedule = await schedules.create_schedule(ctx.db, tenant_id=t, limits=ctx.quotas, **fields)
    response.headers["Location"] = f"/schedules/{schedule.id}"
    response.headers["ETag"] = f'"{schedule.version}"'
    return render_schedule(schedule)


@router.get("/schedules", response_model=m.SchedulePage, response_model_exclude_unset=True)
async def list_schedules(
    t: Read, ctx: Ctx, limit: Limit = 50, cursor: str | None = None
) -> dict[str, Any]:
    found = await schedules.list_schedules(ctx.db, tenant_id=t, after=decode(cursor), limit=limit)
    return page(found, limit, render_schedule, lambda s: (s.created_at, s.id))


@router.get(
    "/schedules/{schedule_id}", response_model=m.Schedule, response_model_exclude_unset=True
)
async def get_schedule(
    schedule_id: uuid.UUID, t: Read, ctx: Ctx, response: Response
) -> dict[str, Any]:
    schedule = await schedules.get_schedule(
        ctx.db, tenant_id=t, schedule_id=ScheduleId(schedule_id)
    )
    response.headers["ETag"] = f'"{schedule.version}"'
    return render_schedule(schedule)


@router.patch(
    "/schedules/{schedule_id}", response_model=m.Schedule, response_model_exclude_unset=True
)
async def patch_schedule(
    schedule_id: uuid.UUID,
    body: m.SchedulePatch,
    *,
    t: Admin,
    ctx: Ctx,
    response: Response,
    if_match: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    current = await schedules.get_schedule(ctx.db, tenant_id=t, schedule_id=ScheduleId(schedule_id))
    changes = schedule_changes(doc(body), current.timing)
    schedule = await schedules.update_schedule(
        ctx.db,
        tenant_id=t,
        schedule_id=ScheduleId(schedule_id),
        changes=changes,
        expected_version=version(if_match) if if_match else None,
        limits=ctx.quotas,
    )
    response.headers["ETag"] = f'"{schedule.version}"'
    return render_schedule(schedule)


@router.post(
    "/schedules/{schedule_id}/pause", response_model=m.Schedule, response_model_exclude_unset=True
)
async def pause_schedule(
    schedule_id: uuid.UUID, t: Operate, ctx: Ctx, response: Response
) -> dict[str, Any]:
    schedule = await schedules.pause_schedule(
        ctx.db, tenant_id=t, schedule_id=ScheduleId(schedule_id)
    )
    response.headers["ETag"] = f'"{schedule.version}"'
    return render_schedule(schedule)


@router.post(
    "/schedules/{schedule_id}/resume", response_model=m.Schedule, response_model_exclude_unset=True
)
async def resume_schedule(
    schedule_id: uuid.UUID,
    t: Operate,
    ctx: Ctx,
    response: Response,
    body: Annotated[m.ResumeIn | None, Body()] = None,
) -> dict[str, Any]:
    schedule = await schedules.resume_schedule(
        ctx.db,
        tenant_id=t,
        schedule_id=ScheduleId(schedule_id),
        resume_from=_resume_from(doc(body).get("resume_from", "last_fire")),
    )
    response.headers["ETag"] = f'"{schedule.version}"'
    return render_schedule(schedule)


@router.post(
    "/schedules/{schedule_id}/trigger", response_model=m.Run, response_model_exclude_unset=True
)
async def trigger_schedule(
    schedule_id: uuid.UUID,
    *,
    t: Operate,
    ctx: Ctx,
    response: Response,
    body: Annotated[m.TriggerIn | None, Body()] = None,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    options = trigger_options(doc(body), idempotency_key)
    done = await triggers.trigger_schedule(
        ctx.db, tenant_id=t, schedule_id=ScheduleId(schedule_id), limits=ctx.quotas, **options
    )
    response.status_code = 201 if done.created else 200
    response.headers["Location"] = f"/runs/{done.run.id}"
    return render_run(done.run)


@router.post(
    "/schedules/{schedule_id}/backfill",
    response_model=m.Backfill,
    response_model_exclude_unset=True,
)
async def backfill_schedule(
    schedule_id: uuid.UUID, body: m.BackfillIn, t: Operate, ctx: Ctx, response: Response
) -> dict[str, Any]:
    request = backfill_request(doc(body), tenant_id=t, schedule_id=ScheduleId(schedule_id))
    started = await backfills.start_backfill(ctx.db, request, holidays=ctx.holidays)
    response.status_code = 201 if started.created else 200
    response.headers["Location"] = f"/backfills/{started.backfill.id}"
    return render_backfill(started.backfill)


@router.get(
    "/schedules/{schedule_id}/stats", response_model=m.Stats, response_model_exclude_unset=True
)
async def schedule_stats(
    schedule_id: uuid.UUID, t: Read, ctx: Ctx, since: str | None = None
) -> dict[str, Any]:
    return await run_routes.stats_of(ctx, t, ScheduleId(schedule_id), since)


@router.get(
    "/schedules/{schedule_id}/next", response_model=m.NextFires, response_model_exclude_unset=True
)
async def next_fires(
    schedule_id: uuid.UUID,
    t: Read,
    ctx: Ctx,
    count: Annotated[int, Query(ge=1, le=1000)] = 10,
) -> dict[str, Any]:
    found = await schedules.upcoming_fires(
        ctx.db,
        tenant_id=t,
        schedule_id=ScheduleId(schedule_id),
        count=count,
        holidays=ctx.holidays,
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
) -> dict[str, Any]:
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
async def delete_schedule(schedule_id: uuid.UUID, t: Admin, ctx: Ctx) -> Response:
    await schedules.delete_schedule(ctx.db, tenant_id=t, schedule_id=ScheduleId(schedule_id))
    return Response(status_code=204)


def _resume_from(value: object) -> schedules.ResumeFrom:
    try:
        return schedules.ResumeFrom(str(value) if isinstance(value, str) else "")
    except ValueError:
        choices = [r.value for r in schedules.ResumeFrom]
        raise InvalidRequest(f"resume_from must be one of {choices}", field="resume_from") from None

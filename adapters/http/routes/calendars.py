"""Calendars: business days and holidays (listed, or from a country's or an iCalendar's
source) that schedules skip or shift around."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response

from adapters.http import models as m
from adapters.http.deps import Admin, Ctx, Read
from adapters.http.pagination import Limit, decode, page
from adapters.http.routes._shared import doc
from domain.ids import CalendarId
from service.specs import calendar_changes, render_calendar, require
from service.usecases import calendars

router = APIRouter(tags=["calendars"], responses=m.ERRORS)


@router.post(
    "/calendars", status_code=201, response_model=m.Calendar, response_model_exclude_unset=True
)
async def create_calendar(
    body: m.CalendarCreate, t: Admin, ctx: Ctx, response: Response
) -> dict[str, Any]:
    fields = calendar_changes(doc(body))
    require(fields, "name")
    calendar = await calendars.create_calendar(
        ctx.db, tenant_id=t, fields=fields, holidays=ctx.holidays
    )
    response.headers["Location"] = f"/calendars/{calendar.id}"
    response.headers["ETag"] = f'"{calendar.version}"'
    return render_calendar(calendar)


@router.get("/calendars", response_model=m.CalendarPage, response_model_exclude_unset=True)
async def list_calendars(
    t: Read, ctx: Ctx, limit: Limit = 50, cursor: str | None = None
) -> dict[str, Any]:
    found = await calendars.list_calendars(ctx.db, tenant_id=t, after=decode(cursor), limit=limit)
    return page(found, limit, render_calendar, lambda c: (c.created_at, c.id))


@router.get(
    "/calendars/{calendar_id}", response_model=m.Calendar, response_model_exclude_unset=True
)
async def get_calendar(
    calendar_id: uuid.UUID, t: Read, ctx: Ctx, response: Response
) -> dict[str, Any]:
    calendar = await calendars.get_calendar(
        ctx.db, tenant_id=t, calendar_id=CalendarId(calendar_id)
    )
    response.headers["ETag"] = f'"{calendar.version}"'
    return render_calendar(calendar)


@router.patch(
    "/calendars/{calendar_id}", response_model=m.Calendar, response_model_exclude_unset=True
)
async def patch_calendar(
    calendar_id: uuid.UUID, body: m.CalendarPatch, t: Admin, ctx: Ctx, response: Response
) -> dict[str, Any]:
    calendar = await calendars.update_calendar(
        ctx.db,
        tenant_id=t,
        calendar_id=CalendarId(calendar_id),
        changes=calendar_changes(doc(body)),
        holidays=ctx.holidays,
    )
    response.headers["ETag"] = f'"{calendar.version}"'
    return render_calendar(calendar)


@router.delete("/calendars/{calendar_id}", status_code=204)
async def delete_calendar(calendar_id: uuid.UUID, t: Admin, ctx: Ctx) -> Response:
    await calendars.delete_calendar(ctx.db, tenant_id=t, calendar_id=CalendarId(calendar_id))
    return Response(status_code=204)

"""Calendars: business days and holidays (listed, or from a country's or an iCalendar's
source) that schedules skip or shift around."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from adapters.http import models as m
from adapters.http import requests as r
from adapters.http.audit import Audit
from adapters.http.deps import Admin, Context, Ctx, Read
from adapters.http.pagination import Limit, NameQuery, Page, decode, page
from domain.ids import CalendarId, TenantId
from service.usecases import calendars, parsing

router = APIRouter(tags=["calendars"], responses=m.ERRORS)


@router.post(
    "/calendars", status_code=201, response_model=m.Calendar, response_model_exclude_unset=True
)
async def create_calendar(
    body: r.CalendarCreate, t: Admin, audit: Audit, ctx: Ctx, response: Response
) -> m.Calendar:
    command = parsing.create_calendar(body.fields(), tenant_id=t)
    calendar = await calendars.create_calendar(ctx.db, command, holidays=ctx.holidays)
    response.headers["Location"] = f"/calendars/{calendar.id}"
    response.headers["ETag"] = f'"{calendar.version}"'
    answer = m.Calendar.from_domain(calendar)
    audit.after(answer)
    return answer


@router.get("/calendars", response_model=m.CalendarPage, response_model_exclude_unset=True)
async def list_calendars(
    t: Read, ctx: Ctx, limit: Limit = 50, cursor: str | None = None, name: NameQuery = None
) -> Page:
    """``name``: only the calendars with exactly that name (one page)."""
    if name is not None:
        named = await calendars.calendars_named(ctx.db, tenant_id=t, name=name)
        return page(named, len(named) + 1, m.Calendar.from_domain, lambda c: (c.created_at, c.id))
    found = await calendars.list_calendars(ctx.db, tenant_id=t, after=decode(cursor), limit=limit)
    return page(found, limit, m.Calendar.from_domain, lambda c: (c.created_at, c.id))


@router.get(
    "/calendars/{calendar_id}", response_model=m.Calendar, response_model_exclude_unset=True
)
async def get_calendar(calendar_id: uuid.UUID, t: Read, ctx: Ctx, response: Response) -> m.Calendar:
    calendar = await calendars.get_calendar(
        ctx.db, tenant_id=t, calendar_id=CalendarId(calendar_id)
    )
    response.headers["ETag"] = f'"{calendar.version}"'
    return m.Calendar.from_domain(calendar)


@router.patch(
    "/calendars/{calendar_id}", response_model=m.Calendar, response_model_exclude_unset=True
)
async def patch_calendar(
    calendar_id: uuid.UUID,
    body: r.CalendarPatch,
    *,
    t: Admin,
    audit: Audit,
    ctx: Ctx,
    response: Response,
) -> m.Calendar:
    audit.before(await _calendar(ctx, t, CalendarId(calendar_id)))
    command = parsing.update_calendar(
        body.fields(), tenant_id=t, calendar_id=CalendarId(calendar_id)
    )
    calendar = await calendars.update_calendar(ctx.db, command, holidays=ctx.holidays)
    audit.after(m.Calendar.from_domain(calendar))
    response.headers["ETag"] = f'"{calendar.version}"'
    return m.Calendar.from_domain(calendar)


@router.delete("/calendars/{calendar_id}", status_code=204)
async def delete_calendar(calendar_id: uuid.UUID, t: Admin, audit: Audit, ctx: Ctx) -> Response:
    audit.before(await _calendar(ctx, t, CalendarId(calendar_id)))
    await calendars.delete_calendar(ctx.db, tenant_id=t, calendar_id=CalendarId(calendar_id))
    return Response(status_code=204)


async def _calendar(ctx: Context, t: TenantId, calendar_id: CalendarId) -> m.Calendar:
    found = await calendars.get_calendar(ctx.db, tenant_id=t, calendar_id=calendar_id)
    return m.Calendar.from_domain(found)

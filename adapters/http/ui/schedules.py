"""The dashboard's schedule pages and actions (list, detail, pause, resume, trigger,
backfill) and the upcoming-fires picture."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from adapters.http import models as m
from adapters.http.ui import views
from adapters.http.ui.access import (
    Ui,
    _audited,
    _back,
    _form,
    _principal,
    _render,
    _schedule_model,
    _target,
)
from adapters.http.ui.reads import (
    PAGE,
    _business_calendars,
    _every_schedule,
    _instant,
    _with_attempts,
)
from domain.access import Scope
from domain.backfill import BackfillRequest
from domain.calendar import BusinessCalendar
from domain.errors import InvalidRequest, NotFound
from domain.ids import CalendarId, ScheduleId, TenantId
from domain.planning import plan
from domain.ports import RunFilter, ScheduleOrder, ScheduleSearch
from domain.schedule import Schedule, ScheduleState
from service.usecases import backfills, calendars, jobs, runs, schedules
from service.usecases import manual_triggers as triggers
from service.usecases.commands import TriggerSchedule

UPCOMING_BUDGET = 200_000  # fires planned for the upcoming picture, over all schedules
SORTS = {o.value for o in ScheduleOrder}
STATE_FILTERS = {
    "active": ScheduleState.ENABLED,
    "paused": ScheduleState.PAUSED,
    "completed": ScheduleState.COMPLETED,
}


async def _summary(
    ui: Ui, tenant: TenantId, schedule: Schedule
) -> tuple[views.RunView | None, float | None]:
    """A schedule's last run and its success rate over the last 24 hours."""
    last = await runs.list_runs(
        ui.db, tenant_id=tenant, where=RunFilter(schedule_id=schedule.id), after=None, limit=1
    )
    stats, _ = await runs.run_stats(ui.db, tenant_id=tenant, schedule_id=schedule.id)
    return (views.run_view(last[0]) if last else None), stats.success_rate


def _upcoming(
    everything: Sequence[Schedule],
    known: Mapping[CalendarId, BusinessCalendar],
    start: datetime,
    end: datetime,
) -> tuple[list[tuple[datetime, Schedule]], bool]:
    """Every enabled schedule's dispatched fires in [start, end), planned as the
    materialiser plans them, and whether the budget cut the list short."""
    out: list[tuple[datetime, Schedule]] = []
    due = [
        s
        for s in everything
        if s.state is ScheduleState.ENABLED and s.next_fire_at is not None and s.next_fire_at < end
    ]
    share = max(100, UPCOMING_BUDGET // max(1, len(due)))
    cut = False
    for schedule in due:
        assert schedule.next_fire_at is not None
        calendar_id = schedule.timing.calendar_id
        planned = plan(
            schedule.timing,
            max(start, schedule.next_fire_at),
            inclusive=True,
            calendar=known.get(calendar_id) if calendar_id else None,
            schedule_id=str(schedule.id),
            fired=schedule.fire_count,
        )
        for scanned, fire in enumerate(planned):
            if fire.nominal_at >= end:
                break
            if scanned >= share:
                cut = True
                break
            if fire.skipped is None:
                out.append((fire.dispatch_at, schedule))
    out.sort(key=lambda item: item[0])
    return out, cut


def routes(dashboard: FastAPI, ui: Ui) -> None:
    db = ui.db

    # -- schedules ----------------------------------------------------------------------

    @dashboard.get("/schedules")
    async def schedule_list(request: Request) -> HTMLResponse:
        principal = await _principal(ui, request, Scope.READ)
        tenant = principal.tenant_id
        params = request.query_params
        q = params.get("q", "").strip()
        state = params.get("state", "")
        sort = params.get("sort", "name")
        descending = params.get("order", "asc") == "desc"
        if state and state not in STATE_FILTERS:
            raise InvalidRequest(f"state must be one of {sorted(STATE_FILTERS)}", field="state")
        if sort not in SORTS:
            raise InvalidRequest(f"sort must be one of {sorted(SORTS)}", field="sort")
        try:
            page = max(1, int(params.get("page", "1")))
        except ValueError:
            raise InvalidRequest("page must be a number", field="page") from None
        started = time.perf_counter()
        query = ScheduleSearch(
            text=q,
            state=STATE_FILTERS[state] if state else None,
            order=ScheduleOrder(sort),
            descending=descending,
            offset=(page - 1) * PAGE,
            limit=PAGE,
        )
        shown, matched = await schedules.search_schedules(db, tenant_id=tenant, query=query)
        pages = max(1, -(-matched // PAGE))
        if page > pages:  # past the end (the list shrank): its last page
            query = replace(query, offset=(pages - 1) * PAGE)
            shown, matched = await schedules.search_schedules(db, tenant_id=tenant, query=query)
            page = pages
        summaries = await asyncio.gather(*(_summary(ui, tenant, s) for s in shown))
        return _render(
            ui,
            request,
            "schedules.html",
            principal,
            rows=list(zip(shown, summaries, strict=True)),
            matched=matched,
            page=page,
            pages=pages,
            q=q,
            state=state,
            sort=sort,
            order="desc" if descending else "asc",
            took_ms=(time.perf_counter() - started) * 1000,
        )

    @dashboard.get("/schedules/{schedule_id}")
    async def schedule_page(schedule_id: uuid.UUID, request: Request) -> HTMLResponse:
        principal = await _principal(ui, request, Scope.READ)
        tenant = principal.tenant_id
        sid = ScheduleId(schedule_id)
        schedule = await schedules.get_schedule(db, tenant_id=tenant, schedule_id=sid)
        job_name = None
        with contextlib.suppress(NotFound):
            job_name = (await jobs.get_job(db, tenant_id=tenant, job_id=schedule.job_id)).name
        upcoming = await schedules.upcoming_fires(
            db,
            tenant_id=tenant,
            schedule_id=sid,
            count=10,
            holidays=ui.holidays,
            include_skipped=True,
        )
        recent = await runs.list_runs(
            db, tenant_id=tenant, where=RunFilter(schedule_id=sid), after=None, limit=PAGE
        )
        stats, _ = await runs.run_stats(db, tenant_id=tenant, schedule_id=sid)
        calendar_name = None
        if schedule.timing.calendar_id is not None:
            with contextlib.suppress(NotFound):
                calendar_name = (
                    await calendars.get_calendar(
                        db, tenant_id=tenant, calendar_id=schedule.timing.calendar_id
                    )
                ).name
        now = ui.clock.now()
        recent_views = [views.run_view(r) for r in await _with_attempts(ui, tenant, recent)]
        longest = max((v.duration or 0 for v in recent_views), default=0)
        return _render(
            ui,
            request,
            "schedule.html",
            principal,
            schedule=schedule,
            job_name=job_name,
            calendar_name=calendar_name,
            fires=[views.fire_view(f) for f in upcoming.fires],
            exhausted=upcoming.exhausted,
            recent=recent_views,
            longest=longest,
            stats=stats,
            backfill_from=(now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
            backfill_to=now.strftime("%Y-%m-%dT%H:%M"),
        )

    @dashboard.post("/schedules/{schedule_id}/pause")
    async def pause(schedule_id: uuid.UUID, request: Request) -> Response:
        principal = await _principal(ui, request, Scope.OPERATE)
        form = await _form(request)
        note = form.get("note", "").strip()
        if len(note) > 500:
            raise InvalidRequest("the note is at most 500 characters", field="note")
        tenant, sid = principal.tenant_id, ScheduleId(schedule_id)
        async with _audited(request) as change:
            change.before(await _schedule_model(db, tenant, sid))
            paused = await schedules.pause_schedule(
                db, tenant_id=tenant, schedule_id=sid, note=note or None
            )
            change.after(m.Schedule.from_domain(paused))
        return _back(_target(form, f"/ui/schedules/{schedule_id}"), "paused")

    @dashboard.post("/schedules/{schedule_id}/resume")
    async def resume(schedule_id: uuid.UUID, request: Request) -> Response:
        principal = await _principal(ui, request, Scope.OPERATE)
        form = await _form(request)
        try:
            resume_from = schedules.ResumeFrom(form.get("resume_from") or "last_fire")
        except ValueError:
            raise InvalidRequest(
                "resume_from must be last_fire or now", field="resume_from"
            ) from None
        tenant, sid = principal.tenant_id, ScheduleId(schedule_id)
        async with _audited(request) as change:
            change.before(await _schedule_model(db, tenant, sid))
            resumed = await schedules.resume_schedule(
                db, tenant_id=tenant, schedule_id=sid, resume_from=resume_from
            )
            change.after(m.Schedule.from_domain(resumed))
        return _back(f"/ui/schedules/{schedule_id}", "resumed")

    @dashboard.post("/schedules/{schedule_id}/trigger")
    async def trigger(schedule_id: uuid.UUID, request: Request) -> Response:
        principal = await _principal(ui, request, Scope.OPERATE)
        await _form(request)
        tenant, sid = principal.tenant_id, ScheduleId(schedule_id)
        async with _audited(request) as change:
            change.before(await _schedule_model(db, tenant, sid))
            await triggers.trigger_schedule(
                db, TriggerSchedule(tenant_id=tenant, schedule_id=sid), limits=ui.limits
            )
            change.after(await _schedule_model(db, tenant, sid))
        return _back(f"/ui/schedules/{schedule_id}", "triggered")

    @dashboard.post("/schedules/{schedule_id}/backfill")
    async def backfill(schedule_id: uuid.UUID, request: Request) -> Response:
        principal = await _principal(ui, request, Scope.OPERATE)
        form = await _form(request)
        start, end = _instant(form.get("from"), "from"), _instant(form.get("to"), "to")
        if start is None or end is None:
            raise InvalidRequest("from and to are required", field="from" if not start else "to")
        tenant, sid = principal.tenant_id, ScheduleId(schedule_id)
        async with _audited(request) as change:
            change.before(await _schedule_model(db, tenant, sid))
            await backfills.start_backfill(
                db,
                BackfillRequest(tenant_id=tenant, schedule_id=sid, from_at=start, to_at=end),
                holidays=ui.holidays,
            )
            change.after(await _schedule_model(db, tenant, sid))
        return _back(f"/ui/schedules/{schedule_id}", "backfill")

    # -- upcoming -----------------------------------------------------------------------

    @dashboard.get("/upcoming")
    async def upcoming(request: Request) -> HTMLResponse:
        principal = await _principal(ui, request, Scope.READ)
        span = request.query_params.get("span", "24h")
        if span not in ("24h", "7d"):
            raise InvalidRequest("span must be 24h or 7d", field="span")
        everything = await _every_schedule(ui, principal.tenant_id)
        _, known = await _business_calendars(ui, principal.tenant_id)
        now = ui.clock.now()
        picture_start = views.heatmap([], start=now, span=span, schedules=0).start
        end = picture_start + (timedelta(days=7) if span == "7d" else timedelta(hours=24))
        fires, cut = _upcoming(everything, known, now, end)
        picture = views.heatmap(
            (at for at, _ in fires),
            start=now,
            span=span,
            schedules=len({s.id for _, s in fires}),
        )
        return _render(
            ui,
            request,
            "upcoming.html",
            principal,
            span=span,
            picture=picture,
            soonest=fires[:25],
            cut=cut,
        )

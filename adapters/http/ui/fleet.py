"""The dashboard's worker and calendar pages."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from adapters.http.ui import views
from adapters.http.ui.access import Ui, _principal, _render
from adapters.http.ui.reads import BATCH, _business_calendars, _every_schedule
from domain.access import Scope
from domain.calendar import BusinessCalendar
from domain.errors import InvalidRequest
from domain.ids import CalendarId
from domain.planning import plan
from domain.ports import RunFilter
from domain.run import Run, RunStatus
from domain.schedule import ScheduleState
from service.usecases import calendars, runs
from service.usecases import worker_registry as workers


def _month(text: str | None, today: date) -> tuple[int, int]:
    if not text:
        return today.year, today.month
    try:
        year, month = (int(p) for p in text.split("-", 1))
        date(year, month, 1)
    except ValueError:
        raise InvalidRequest("month must look like 2026-12", field="month") from None
    return year, month


def routes(dashboard: FastAPI, ui: Ui) -> None:
    db = ui.db

    # -- workers, calendars -------------------------------------------------------------

    @dashboard.get("/workers")
    async def worker_list(request: Request) -> HTMLResponse:
        principal = await _principal(ui, request, Scope.READ)
        found = await workers.list_workers(
            db, tenant_id=principal.tenant_id, after=None, limit=BATCH
        )
        running = await runs.list_runs(
            db,
            tenant_id=principal.tenant_id,
            where=RunFilter(statuses=frozenset({RunStatus.RUNNING})),
            after=None,
            limit=BATCH,
        )
        held: dict[Any, list[Run]] = {}
        for run in running:
            held.setdefault(run.worker_id, []).append(run)
        now = ui.clock.now()
        return _render(
            ui,
            request,
            "workers.html",
            principal,
            workers=[
                (w, w.state.value == "online" and not w.silent(now), held.get(w.id, []))
                for w in found
            ],
        )

    @dashboard.get("/calendars")
    async def calendar_list(request: Request) -> HTMLResponse:
        principal = await _principal(ui, request, Scope.READ)
        found, _ = await _business_calendars(ui, principal.tenant_id)
        return _render(ui, request, "calendars.html", principal, calendars=found)

    @dashboard.get("/calendars/{calendar_id}")
    async def calendar_page(calendar_id: uuid.UUID, request: Request) -> HTMLResponse:
        principal = await _principal(ui, request, Scope.READ)
        found = await calendars.get_calendar(
            db, tenant_id=principal.tenant_id, calendar_id=CalendarId(calendar_id)
        )
        business = BusinessCalendar(found, ui.holidays)
        year, month = _month(request.query_params.get("month"), ui.clock.now().date())
        first = datetime(year, month, 1, tzinfo=UTC)
        after = (first + timedelta(days=32)).replace(day=1)
        users = [
            s
            for s in await _every_schedule(ui, principal.tenant_id)
            if s.timing.calendar_id == found.id and s.state is not ScheduleState.DELETED
        ]
        fires: dict[date, int] = {}
        moved: dict[date, int] = {}
        for schedule in users:
            planned = plan(
                schedule.timing,
                first - timedelta(days=7),
                inclusive=True,
                calendar=business,
                schedule_id=str(schedule.id),
            )
            for scanned, fire in enumerate(planned):
                if fire.nominal_at >= after + timedelta(days=7) or scanned > 5000:
                    break
                if fire.skipped is not None:
                    continue
                day = fire.dispatch_local_at.date()
                fires[day] = fires.get(day, 0) + 1
                if any(n.startswith("moved:") for n in fire.notes):
                    moved[day] = moved.get(day, 0) + 1
        prev = (first - timedelta(days=1)).strftime("%Y-%m")
        return _render(
            ui,
            request,
            "calendar.html",
            principal,
            calendar=found,
            weeks=views.month_view(business, year, month, fires, moved),
            title=first.strftime("%B %Y"),
            prev=prev,
            next=after.strftime("%Y-%m"),
            users=users,
        )

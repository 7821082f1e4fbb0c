"""The dashboard's run pages and actions (list, detail, retry, cancel)."""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime
from urllib.parse import urlencode

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
    _run_model,
    _target,
)
from adapters.http.ui.reads import PAGE, _instant, _names, _statuses, _uuid, _with_attempts
from domain.access import Scope
from domain.errors import InvalidRequest, NotFound
from domain.ids import JobId, RunId, ScheduleId
from domain.ports import Keyset, RunFilter
from domain.run import Run, RunStatus
from service.usecases import runs, schedules


def _keyset(text: str | None) -> Keyset | None:
    if not text:
        return None
    at, _, ident = text.partition("_")
    try:
        instant = datetime.fromisoformat(at)
        key = uuid.UUID(ident)
    except ValueError:
        raise InvalidRequest("cursor is not one this page gave out", field="cursor") from None
    if instant.tzinfo is None:
        raise InvalidRequest("cursor is not one this page gave out", field="cursor")
    return instant, key


def _cursor_of(run: Run) -> str:
    return f"{run.nominal_at.isoformat()}_{run.id}"


def routes(dashboard: FastAPI, ui: Ui) -> None:
    db = ui.db

    # -- runs ---------------------------------------------------------------------------

    @dashboard.get("/runs")
    async def run_list(request: Request) -> HTMLResponse:
        principal = await _principal(ui, request, Scope.READ)
        params = request.query_params
        status = params.get("status", "")
        schedule = _uuid(params.get("schedule"), "schedule")
        job = _uuid(params.get("job"), "job")
        start = _instant(params.get("from"), "from")
        end = _instant(params.get("to"), "to")
        where = RunFilter(
            schedule_id=ScheduleId(schedule) if schedule else None,
            job_id=JobId(job) if job else None,
            statuses=_statuses(status),
            nominal_from=start,
            nominal_to=end,
        )
        found = await runs.list_runs(
            db,
            tenant_id=principal.tenant_id,
            where=where,
            after=_keyset(params.get("cursor")),
            limit=PAGE,
        )
        names = await _names(ui, principal.tenant_id, {r.schedule_id for r in found})
        filters = {
            "status": status,
            "schedule": params.get("schedule", ""),
            "job": params.get("job", ""),
            "from": params.get("from", ""),
            "to": params.get("to", ""),
        }
        return _render(
            ui,
            request,
            "runs.html",
            principal,
            runs=[views.run_view(r) for r in await _with_attempts(ui, principal.tenant_id, found)],
            names=names,
            filters=filters,
            statuses=[s.value for s in RunStatus],
            next_cursor=_cursor_of(found[-1]) if len(found) == PAGE else None,
            dead=status == "dead",
            feed=urlencode({k: v for k, v in filters.items() if k in ("status", "schedule") and v}),
        )

    @dashboard.get("/runs/{run_id}")
    async def run_page(run_id: uuid.UUID, request: Request) -> HTMLResponse:
        principal = await _principal(ui, request, Scope.READ)
        run = await runs.get_run(db, tenant_id=principal.tenant_id, run_id=RunId(run_id))
        name = None
        with contextlib.suppress(NotFound):
            name = (
                await schedules.get_schedule(
                    db, tenant_id=principal.tenant_id, schedule_id=run.schedule_id
                )
            ).name
        return _render(
            ui, request, "run.html", principal, view=views.run_view(run), schedule_name=name
        )

    @dashboard.post("/runs/{run_id}/retry")
    async def retry(run_id: uuid.UUID, request: Request) -> Response:
        principal = await _principal(ui, request, Scope.OPERATE)
        form = await _form(request)
        async with _audited(request) as change:
            change.before(await _run_model(db, principal.tenant_id, RunId(run_id)))
            retried = await runs.retry_run(db, tenant_id=principal.tenant_id, run_id=RunId(run_id))
            change.after(m.Run.from_domain(retried))
        return _back(_target(form, f"/ui/runs/{run_id}"), "retried")

    @dashboard.post("/runs/{run_id}/cancel")
    async def cancel(run_id: uuid.UUID, request: Request) -> Response:
        principal = await _principal(ui, request, Scope.OPERATE)
        form = await _form(request)
        async with _audited(request) as change:
            change.before(await _run_model(db, principal.tenant_id, RunId(run_id)))
            cancelled = await runs.cancel_run(
                db,
                tenant_id=principal.tenant_id,
                run_id=RunId(run_id),
                reason=f"cancelled in the dashboard by {principal.subject or 'a user'}",
            )
            change.after(m.Run.from_domain(cancelled))
        return _back(_target(form, f"/ui/runs/{run_id}"), "cancelled")

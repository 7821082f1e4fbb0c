"""The REST API (SEMANTICS 13-14): thin FastAPI routes that parse, resolve the tenant,
call a use case and render the answer; errors become the envelope (``errors.py``).

Tenant: until token authentication lands (JWT/JWKS, its own issue), the tenant is read
from the ``Kairos-Tenant`` header by ``header_tenant``; ``create_app`` takes the
resolver so the token-based one replaces it without touching the routes. The dev and
serve commands bind the API to 127.0.0.1 by default for that reason.

Lists answer ``{"items": [...], "next_cursor": str | null}``; pass ``cursor`` back to
get the next page. Cursors are opaque (base64 of the keyset).
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Body, Depends, FastAPI, Header, Query, Request, Response

from adapters.holiday_sources import LibraryHolidayProvider
from adapters.http.errors import ApiError, install
from domain.durations import parse_instant
from domain.errors import InvalidRequest
from domain.ids import BackfillId, CalendarId, JobId, RunId, ScheduleId, TenantId, parse_tenant
from domain.ports import Database, HolidayProvider, Keyset, RunFilter
from domain.run import RunStatus
from service import backfills, calendars, jobs, runs, schedules, triggers
from service.preview import fire_json
from service.specs import (
    backfill_request,
    calendar_changes,
    job_options,
    render_backfill,
    render_calendar,
    render_job,
    render_run,
    render_schedule,
    render_stats,
    require,
    schedule_changes,
    trigger_options,
)

T = TypeVar("T")
TenantResolver = Callable[[Request], Awaitable[TenantId]]
MAX_PAGE = 500


async def header_tenant(request: Request) -> TenantId:
    value = request.headers.get("kairos-tenant")
    if not value:
        raise ApiError(401, "UNAUTHORIZED", "no tenant: send the Kairos-Tenant header")
    return parse_tenant(value)


async def _tenant(request: Request) -> TenantId:
    resolver: TenantResolver = request.app.state.tenant_resolver
    return await resolver(request)


Tenant = Annotated[TenantId, Depends(_tenant)]
Doc = Annotated[dict[str, Any], Body()]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]


def create_app(
    db: Database,
    *,
    tenant: TenantResolver = header_tenant,
    holidays: HolidayProvider | None = None,
) -> FastAPI:
    """The API over ``db``. ``holidays`` reads calendars' holiday sources (countries,
    iCalendar): the library one unless a test gives another."""
    holiday_provider: HolidayProvider = holidays or LibraryHolidayProvider()
    app = FastAPI(
        title="Kairos",
        version="0.1.0",
        description="Tenant-scoped scheduling: schedules, jobs and their runs.",
    )
    install(app)
    app.state.tenant_resolver = tenant

    # -- jobs ---------------------------------------------------------------------------

    @app.post("/jobs", status_code=201, tags=["jobs"])
    async def create_job(body: Doc, t: Tenant, response: Response) -> dict[str, Any]:
        options = job_options(body)
        require(options, "name", "target")
        job = await jobs.create_job(db, tenant_id=t, **options)
        response.headers["Location"] = f"/jobs/{job.id}"
        return render_job(job)

    @app.get("/jobs", tags=["jobs"])
    async def list_jobs(t: Tenant, limit: Limit = 50, cursor: str | None = None) -> dict[str, Any]:
        found = await jobs.list_jobs(db, tenant_id=t, after=_cursor(cursor), limit=limit)
        return _page(found, limit, render_job, lambda j: (j.created_at, j.id))

    @app.get("/jobs/{job_id}", tags=["jobs"])
    async def get_job(job_id: uuid.UUID, t: Tenant) -> dict[str, Any]:
        return render_job(await jobs.get_job(db, tenant_id=t, job_id=JobId(job_id)))

    @app.patch("/jobs/{job_id}", tags=["jobs"])
    async def patch_job(job_id: uuid.UUID, body: Doc, t: Tenant) -> dict[str, Any]:
        job = await jobs.update_job(
            db, tenant_id=t, job_id=JobId(job_id), changes=job_options(body)
        )
        return render_job(job)

    # -- schedules ----------------------------------------------------------------------

    @app.post("/schedules", status_code=201, tags=["schedules"])
    async def create_schedule(body: Doc, t: Tenant, response: Response) -> dict[str, Any]:
        fields = schedule_changes(body)
        require(fields, "name", "job_id")
        schedule = await schedules.create_schedule(db, tenant_id=t, **fields)
        response.headers["Location"] = f"/schedules/{schedule.id}"
        response.headers["ETag"] = f'"{schedule.version}"'
        return render_schedule(schedule)

    @app.get("/schedules", tags=["schedules"])
    async def list_schedules(
        t: Tenant, limit: Limit = 50, cursor: str | None = None
    ) -> dict[str, Any]:
        found = await schedules.list_schedules(db, tenant_id=t, after=_cursor(cursor), limit=limit)
        return _page(found, limit, render_schedule, lambda s: (s.created_at, s.id))

    @app.get("/schedules/{schedule_id}", tags=["schedules"])
    async def get_schedule(schedule_id: uuid.UUID, t: Tenant, response: Response) -> dict[str, Any]:
        schedule = await schedules.get_schedule(
            db, tenant_id=t, schedule_id=ScheduleId(schedule_id)
        )
        response.headers["ETag"] = f'"{schedule.version}"'
        return render_schedule(schedule)

    @app.patch("/schedules/{schedule_id}", tags=["schedules"])
    async def patch_schedule(
        schedule_id: uuid.UUID,
        body: Doc,
        t: Tenant,
        response: Response,
        if_match: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:
        current = await schedules.get_schedule(db, tenant_id=t, schedule_id=ScheduleId(schedule_id))
        changes = schedule_changes(body, current.timing)
        schedule = await schedules.update_schedule(
            db,
            tenant_id=t,
            schedule_id=ScheduleId(schedule_id),
            changes=changes,
            expected_version=_version(if_match) if if_match else None,
        )
        response.headers["ETag"] = f'"{schedule.version}"'
        return render_schedule(schedule)

    @app.post("/schedules/{schedule_id}/pause", tags=["schedules"])
    async def pause_schedule(
        schedule_id: uuid.UUID, t: Tenant, response: Response
    ) -> dict[str, Any]:
        schedule = await schedules.pause_schedule(
            db, tenant_id=t, schedule_id=ScheduleId(schedule_id)
        )
        response.headers["ETag"] = f'"{schedule.version}"'
        return render_schedule(schedule)

    @app.post("/schedules/{schedule_id}/resume", tags=["schedules"])
    async def resume_schedule(
        schedule_id: uuid.UUID,
        t: Tenant,
        response: Response,
        body: Annotated[dict[str, Any] | None, Body()] = None,
    ) -> dict[str, Any]:
        schedule = await schedules.resume_schedule(
            db,
            tenant_id=t,
            schedule_id=ScheduleId(schedule_id),
            resume_from=_resume_from((body or {}).get("resume_from", "last_fire")),
        )
        response.headers["ETag"] = f'"{schedule.version}"'
        return render_schedule(schedule)

    @app.post("/schedules/{schedule_id}/trigger", tags=["schedules"])
    async def trigger_schedule(
        schedule_id: uuid.UUID,
        t: Tenant,
        response: Response,
        body: Annotated[dict[str, Any] | None, Body()] = None,
        idempotency_key: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:
        options = trigger_options(body or {}, idempotency_key)
        done = await triggers.trigger_schedule(
            db, tenant_id=t, schedule_id=ScheduleId(schedule_id), **options
        )
        response.status_code = 201 if done.created else 200
        response.headers["Location"] = f"/runs/{done.run.id}"
        return render_run(done.run)

    @app.post("/schedules/{schedule_id}/backfill", tags=["schedules"])
    async def backfill_schedule(
        schedule_id: uuid.UUID, body: Doc, t: Tenant, response: Response
    ) -> dict[str, Any]:
        request = backfill_request(body, tenant_id=t, schedule_id=ScheduleId(schedule_id))
        started = await backfills.start_backfill(db, request, holidays=holiday_provider)
        response.status_code = 201 if started.created else 200
        response.headers["Location"] = f"/backfills/{started.backfill.id}"
        return render_backfill(started.backfill)

    @app.get("/backfills/{backfill_id}", tags=["schedules"])
    async def get_backfill(backfill_id: uuid.UUID, t: Tenant) -> dict[str, Any]:
        backfill, progress = await backfills.get_backfill(
            db, tenant_id=t, backfill_id=BackfillId(backfill_id)
        )
        return render_backfill(backfill, progress)

    @app.get("/stats", tags=["runs"])
    async def stats(t: Tenant, since: str | None = None) -> dict[str, Any]:
        return await _stats(t, None, since)

    @app.get("/schedules/{schedule_id}/stats", tags=["schedules"])
    async def schedule_stats(
        schedule_id: uuid.UUID, t: Tenant, since: str | None = None
    ) -> dict[str, Any]:
        return await _stats(t, ScheduleId(schedule_id), since)

    async def _stats(
        t: TenantId, schedule_id: ScheduleId | None, since: str | None
    ) -> dict[str, Any]:
        found, start = await runs.run_stats(
            db, tenant_id=t, schedule_id=schedule_id, since=_instant(since, "since")
        )
        return render_stats(found, start)

    @app.get("/schedules/{schedule_id}/next", tags=["schedules"])
    async def next_fires(
        schedule_id: uuid.UUID, t: Tenant, count: Annotated[int, Query(ge=1, le=1000)] = 10
    ) -> dict[str, Any]:
        found = await schedules.upcoming_fires(
            db,
            tenant_id=t,
            schedule_id=ScheduleId(schedule_id),
            count=count,
            holidays=holiday_provider,
        )
        return {"items": [fire_json(f) for f in found.fires], "exhausted": found.exhausted}

    @app.get("/schedules/{schedule_id}/runs", tags=["schedules"])
    async def schedule_runs(
        schedule_id: uuid.UUID,
        t: Tenant,
        *,
        limit: Limit = 50,
        cursor: str | None = None,
        status: Annotated[list[str] | None, Query()] = None,
        from_: Annotated[str | None, Query(alias="from")] = None,
        to: str | None = None,
    ) -> dict[str, Any]:
        await schedules.get_schedule(db, tenant_id=t, schedule_id=ScheduleId(schedule_id))
        return await list_runs(
            t,
            limit=limit,
            cursor=cursor,
            schedule_id=schedule_id,
            status=status,
            from_=from_,
            to=to,
        )

    @app.delete("/schedules/{schedule_id}", status_code=204, tags=["schedules"])
    async def delete_schedule(schedule_id: uuid.UUID, t: Tenant) -> Response:
        await schedules.delete_schedule(db, tenant_id=t, schedule_id=ScheduleId(schedule_id))
        return Response(status_code=204)

    # -- calendars ----------------------------------------------------------------------

    @app.post("/calendars", status_code=201, tags=["calendars"])
    async def create_calendar(body: Doc, t: Tenant, response: Response) -> dict[str, Any]:
        fields = calendar_changes(body)
        require(fields, "name")
        calendar = await calendars.create_calendar(
            db, tenant_id=t, fields=fields, holidays=holiday_provider
        )
        response.headers["Location"] = f"/calendars/{calendar.id}"
        response.headers["ETag"] = f'"{calendar.version}"'
        return render_calendar(calendar)

    @app.get("/calendars", tags=["calendars"])
    async def list_calendars(
        t: Tenant, limit: Limit = 50, cursor: str | None = None
    ) -> dict[str, Any]:
        found = await calendars.list_calendars(db, tenant_id=t, after=_cursor(cursor), limit=limit)
        return _page(found, limit, render_calendar, lambda c: (c.created_at, c.id))

    @app.get("/calendars/{calendar_id}", tags=["calendars"])
    async def get_calendar(calendar_id: uuid.UUID, t: Tenant, response: Response) -> dict[str, Any]:
        calendar = await calendars.get_calendar(
            db, tenant_id=t, calendar_id=CalendarId(calendar_id)
        )
        response.headers["ETag"] = f'"{calendar.version}"'
        return render_calendar(calendar)

    @app.patch("/calendars/{calendar_id}", tags=["calendars"])
    async def patch_calendar(
        calendar_id: uuid.UUID, body: Doc, t: Tenant, response: Response
    ) -> dict[str, Any]:
        calendar = await calendars.update_calendar(
            db,
            tenant_id=t,
            calendar_id=CalendarId(calendar_id),
            changes=calendar_changes(body),
            holidays=holiday_provider,
        )
        response.headers["ETag"] = f'"{calendar.version}"'
        return render_calendar(calendar)

    @app.delete("/calendars/{calendar_id}", status_code=204, tags=["calendars"])
    async def delete_calendar(calendar_id: uuid.UUID, t: Tenant) -> Response:
        await calendars.delete_calendar(db, tenant_id=t, calendar_id=CalendarId(calendar_id))
        return Response(status_code=204)

    # -- runs ---------------------------------------------------------------------------

    @app.get("/runs", tags=["runs"])
    async def list_runs(
        t: Tenant,
        *,
        limit: Limit = 50,
        cursor: str | None = None,
        schedule_id: uuid.UUID | None = None,
        job_id: uuid.UUID | None = None,
        status: Annotated[list[str] | None, Query()] = None,
        from_: Annotated[str | None, Query(alias="from")] = None,
        to: str | None = None,
    ) -> dict[str, Any]:
        where = RunFilter(
            schedule_id=ScheduleId(schedule_id) if schedule_id else None,
            job_id=JobId(job_id) if job_id else None,
            statuses=_statuses(status or []),
            nominal_from=_instant(from_, "from"),
            nominal_to=_instant(to, "to"),
        )
        found = await runs.list_runs(
            db, tenant_id=t, where=where, after=_cursor(cursor), limit=limit
        )
        return _page(found, limit, render_run, lambda r: (r.nominal_at, r.id))

    @app.get("/runs/{run_id}", tags=["runs"])
    async def get_run(run_id: uuid.UUID, t: Tenant) -> dict[str, Any]:
        run = await runs.get_run(db, tenant_id=t, run_id=RunId(run_id))
        return render_run(run, attempts=True)

    @app.post("/runs/{run_id}/retry", tags=["runs"])
    async def retry_run(run_id: uuid.UUID, t: Tenant) -> dict[str, Any]:
        return render_run(await runs.retry_run(db, tenant_id=t, run_id=RunId(run_id)))

    @app.post("/runs/{run_id}/cancel", tags=["runs"])
    async def cancel_run(run_id: uuid.UUID, t: Tenant) -> dict[str, Any]:
        return render_run(await runs.cancel_run(db, tenant_id=t, run_id=RunId(run_id)))

    return app


def _page(
    found: Sequence[T], limit: int, render: Callable[[T], Any], key: Callable[[T], Keyset]
) -> dict[str, Any]:
    """A list answer; a full page carries the cursor of its last item."""
    last = key(found[-1]) if len(found) == limit else None
    return {"items": [render(item) for item in found], "next_cursor": _encode(last)}


def _statuses(values: list[str]) -> frozenset[RunStatus]:
    out = set()
    for value in (v for raw in values for v in raw.split(",") if v):
        try:
            out.add(RunStatus(value))
        except ValueError:
            raise InvalidRequest(
                f"unknown status {value!r}; one of {[s.value for s in RunStatus]}",
                field="status",
            ) from None
    return frozenset(out)


def _resume_from(value: object) -> schedules.ResumeFrom:
    try:
        return schedules.ResumeFrom(str(value) if isinstance(value, str) else "")
    except ValueError:
        choices = [r.value for r in schedules.ResumeFrom]
        raise InvalidRequest(f"resume_from must be one of {choices}", field="resume_from") from None


def _instant(value: str | None, field: str) -> datetime | None:
    return parse_instant(value, field=field) if value else None


def _version(if_match: str) -> int:
    try:
        return int(if_match.strip().removeprefix("W/").strip('"'))
    except ValueError:
        raise InvalidRequest('If-Match must be a version ETag like "3"', field="If-Match") from None


def _encode(key: Keyset | None) -> str | None:
    if key is None:
        return None
    raw = json.dumps([key[0].isoformat(), str(key[1])]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor(text: str | None) -> Keyset | None:
    if not text:
        return None
    try:
        at, id = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        return datetime.fromisoformat(at), uuid.UUID(id)
    except (ValueError, TypeError, binascii.Error):
        raise InvalidRequest("cursor is not one this API gave out", field="cursor") from None

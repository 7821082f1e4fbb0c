"""The REST API (SEMANTICS 13-14): thin FastAPI routes that parse, resolve the tenant,
call a use case and render the answer; errors become the envelope (``errors.py``).

Who calls: ``create_app`` takes an ``Authenticator`` that turns a request into a
``Principal`` (tenant and scopes). ``bearer`` verifies a JWT (``adapters/auth``): the
tenant comes from the verified token only. Each route's scope is in ``policy.py``
(deny by default): no or bad token 401, missing scope 403, another tenant's object 404
(row-level security never shows it). ``header_principal`` (tenant from a
``Kairos-Tenant`` header, every scope) exists for tests of the routes themselves.

Lists answer ``{"items": [...], "next_cursor": str | null}``; pass ``cursor`` back to
get the next page. Cursors are opaque (base64 of the keyset).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar

import structlog
from fastapi import Body, Depends, FastAPI, Header, Query, Request, Response
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from adapters.auth.tokens import TokenVerifier
from adapters.holiday_sources import LibraryHolidayProvider
from adapters.http import audit, policy
from adapters.http import models as m
from adapters.http.boundary import Boundary
from adapters.http.errors import install
from adapters.http.links import add_links
from adapters.http.ratelimit import RateLimiter, admit
from adapters.http.ui import install as install_dashboard
from adapters.metrics import PrometheusMetrics
from domain.access import Principal, Scope
from domain.audit import AuditEntry
from domain.durations import format_duration, parse_instant
from domain.errors import Forbidden, InvalidRequest, Unauthorized
from domain.ids import (
    BackfillId,
    CalendarId,
    JobId,
    RunId,
    ScheduleId,
    TenantId,
    WorkerId,
    new_id,
    parse_tenant,
)
from domain.job import Job
from domain.limits import TenantLimits
from domain.ports import Database, HolidayProvider, Keyset, RunFilter, SecretBox
from domain.run import RunStatus
from service.specs import (
    backfill_request,
    calendar_changes,
    held_runs,
    job_options,
    lease_option,
    render_backfill,
    render_calendar,
    render_claimed,
    render_job,
    render_run,
    render_schedule,
    render_stats,
    render_usage,
    render_worker,
    require,
    schedule_changes,
    trigger_options,
    worker_registration,
)
from service.usecases import backfills, calendars, jobs, runs, schedules, tzdata, usage
from service.usecases import manual_triggers as triggers
from service.usecases import worker_registry as workers
from service.usecases.health import Readiness
from service.usecases.preview import fire_json

T = TypeVar("T")
Authenticator = Callable[[Request], Awaitable[Principal]]
MAX_PAGE = 500


def bearer(verifier: TokenVerifier) -> Authenticator:
    """``Authorization: Bearer <JWT>``, verified; anything else is 401."""

    async def authenticate(request: Request) -> Principal:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("send Authorization: Bearer <token>")
        return await verifier.verify(token.strip())

    return authenticate


async def header_principal(request: Request) -> Principal:
    """For tests of the routes (never wired by ``kairos serve|dev``): the tenant named by
    the ``Kairos-Tenant`` header, with every scope."""
    value = request.headers.get("kairos-tenant")
    if not value:
        raise Unauthorized("no tenant: send the Kairos-Tenant header")
    return Principal(parse_tenant(value), frozenset(Scope), subject=f"header:{value}")


async def _tenant(request: Request) -> TenantId:
    principal: Principal | None = getattr(request.state, "authenticated", None)
    if principal is None:  # the audit middleware may have verified it already
        authenticate: Authenticator = request.app.state.authenticate
        principal = await authenticate(request)
        admit(request, principal)
    route = request.scope.get("route")
    scope = policy.needed(request.method, getattr(route, "path", ""))
    if scope is None or not principal.allows(scope):
        raise Forbidden(
            f"this call needs {scope.value if scope else 'a scope no token has'}",
            needed=scope.value if scope else None,
        )
    request.state.principal = principal
    structlog.contextvars.bind_contextvars(tenant_id=principal.tenant_id)
    return principal.tenant_id


Tenant = Annotated[TenantId, Depends(_tenant)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]


def create_app(
    db: Database,
    *,
    auth: Authenticator,
    holidays: HolidayProvider | None = None,
    secrets: SecretBox | None = None,
    readiness: Readiness | None = None,
    metrics: PrometheusMetrics | None = None,
    limits: TenantLimits | None = None,
    limiter: RateLimiter | None = None,
    operator: TenantId | None = None,
    system_db: Database | None = None,
) -> FastAPI:
    """The API over ``db``. ``holidays`` reads calendars' holiday sources (countries,
    iCalendar): the library one unless a test gives another. ``secrets`` seals HTTP
    targets' signing secrets (without it, creating an HTTP job answers 503).
    ``operator``: the tenant whose admins may see every tenant's usage (none: nobody),
    read through ``system_db``. ``system_db`` (the scheduler's role) serves only the
    reads that span tenants and take no tenant input: the operator's usage and the
    metrics' queue depth; ``db`` is the API's own ``kairos_app`` login, which sees one
    tenant per transaction and nothing more. Without ``system_db``, ``db`` does both."""
    holiday_provider: HolidayProvider = holidays or LibraryHolidayProvider()
    app = FastAPI(
        title="Kairos",
        version="0.1.0",
        description="Tenant-scoped scheduling: schedules, jobs and their runs. Every error "
        "answers the envelope ``{error: {code, message, details, timestamp}}``.",
        responses=m.ERRORS,
    )
    install(app)
    audit.install(app, db)

    @app.middleware("http")
    async def log_context(request: Request, call_next: Callable[..., Awaitable[Any]]) -> Any:
        """Each request's log lines carry its id (``X-Request-Id`` or a new one) and the
        trace id of an incoming ``traceparent``; the tenant is added once known."""
        structlog.contextvars.clear_contextvars()
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex[:16]
        trace = request.headers.get("traceparent", "").split("-")
        structlog.contextvars.bind_contextvars(
            request_id=request_id[:64],
            **({"trace_id": trace[1]} if len(trace) == 4 and len(trace[1]) == 32 else {}),
        )
        # The request's server span (with an incoming traceparent as its parent) is
        # FastAPI's own telemetry; routes and deliveries nest under it.
        response = await call_next(request)
        response.headers["X-Request-Id"] = request_id[:64]
        return response

    app.add_middleware(Boundary)  # outermost: bad input never reaches the rest

    app.state.authenticate = auth
    app.state.limiter = limiter
    quotas = limits or TenantLimits()

    # -- health (no credentials: load balancers and orchestrators ask) -----------------

    @app.get(
        "/health/live", tags=["health"], response_model=m.Live, response_model_exclude_unset=True
    )
    async def live() -> dict[str, Any]:
        """The process is up and serving."""
        return {"status": "live"}

    @app.get(
        "/health/ready",
        tags=["health"],
        response_model=m.Ready,
        responses={503: {"model": m.Ready, "description": "a check failed; see its reason"}},
    )
    async def ready(response: Response) -> dict[str, Any]:
        """Postgres, NATS, migrations, leader and outbox lag, each with its detail;
        503 when one fails."""
        if readiness is None:
            return {"status": "ready", "checks": {}}
        ok, checks = await readiness.check()
        response.status_code = 200 if ok else 503
        return {"status": "ready" if ok else "not ready", "checks": checks}

    @app.get("/metrics", tags=["health"], response_class=PlainTextResponse)
    async def prometheus() -> Response:
        """Prometheus exposition: fires, events by type, lateness, claims, deliveries,
        pool use, leader, queue depth by status and priority, outbox lag."""
        if metrics is None:
            return PlainTextResponse("")
        return Response(await metrics.render(system_db or db), media_type=metrics.content_type)

    @app.get(
        "/audit", tags=["audit"], response_model=m.AuditPage, response_model_exclude_unset=True
    )
    async def audit_trail(
        t: Tenant, limit: Limit = 50, cursor: str | None = None
    ) -> dict[str, Any]:
        """The tenant's mutating calls, newest first: actor, method, path, status, and
        the resource before and after (secrets redacted)."""
        async with db.transaction(t) as tx:
            found = await tx.audit.list(after=_cursor(cursor), limit=limit)
        return _page(found, limit, render_audit, lambda e: (e.at, e.id))

    @app.get("/usage", tags=["audit"], response_model=m.OwnUsage, response_model_exclude_unset=True)
    async def own_usage(t: Tenant, since: str | None = None) -> dict[str, Any]:
        """The tenant's usage next to its quotas: live schedules, jobs, runs running,
        queued and waiting, runs ended since ``since`` (default: 24 hours) by status,
        workers online."""
        found, start = await usage.tenant_usage(db, tenant_id=t, since=_instant(since, "since"))
        return {"since": start.isoformat(), **render_usage(found, quotas)}

    @app.get(
        "/admin/usage",
        tags=["audit"],
        response_model=m.EveryUsage,
        response_model_exclude_unset=True,
    )
    async def every_usage(t: Tenant, since: str | None = None) -> dict[str, Any]:
        """Every tenant's usage, for the operator: an admin token of the operator's
        tenant (``KAIROS_OPERATOR_TENANT``) only; anyone else is 403."""
        if operator is None or t != operator:
            raise Forbidden(
                "only the operator's tenant sees every tenant's usage",
                needed="operator",
            )
        found, start = await usage.every_tenants_usage(
            system_db or db, since=_instant(since, "since")
        )
        return {"since": start.isoformat(), "items": [render_usage(u, quotas) for u in found]}

    @app.get("/tzdata", tags=["audit"], response_model=m.ZoneRules)
    async def zone_rules(t: Tenant, limit: Limit = 100) -> dict[str, Any]:
        """Zone rules: this replica's tzdata version, the one the deployment's next fires
        were planned with, and the tenant's schedules whose next fire a change moved."""
        return tzdata.render_report(await tzdata.zone_rules_report(db, tenant_id=t, limit=limit))

    # -- jobs ---------------------------------------------------------------------------

    @app.post(
        "/jobs",
        status_code=201,
        tags=["jobs"],
        response_model=m.Job,
        response_model_exclude_unset=True,
    )
    async def create_job(body: m.JobCreate, t: Tenant, response: Response) -> dict[str, Any]:
        """An HTTP job's answer carries its signing ``secret``: shown this once."""
        options = job_options(_doc(body))
        require(options, "name", "target")
        job, secret = await jobs.create_job(db, tenant_id=t, box=secrets, **options)
        response.headers["Location"] = f"/jobs/{job.id}"
        return _with_secret(render_job(job), secret, job)

    @app.get("/jobs", tags=["jobs"], response_model=m.JobPage, response_model_exclude_unset=True)
    async def list_jobs(t: Tenant, limit: Limit = 50, cursor: str | None = None) -> dict[str, Any]:
        found = await jobs.list_jobs(db, tenant_id=t, after=_cursor(cursor), limit=limit)
        return _page(found, limit, render_job, lambda j: (j.created_at, j.id))

    @app.get(
        "/jobs/{job_id}", tags=["jobs"], response_model=m.Job, response_model_exclude_unset=True
    )
    async def get_job(job_id: uuid.UUID, t: Tenant) -> dict[str, Any]:
        return render_job(await jobs.get_job(db, tenant_id=t, job_id=JobId(job_id)))

    @app.patch(
        "/jobs/{job_id}", tags=["jobs"], response_model=m.Job, response_model_exclude_unset=True
    )
    async def patch_job(job_id: uuid.UUID, body: m.JobPatch, t: Tenant) -> dict[str, Any]:
        job, secret = await jobs.update_job(
            db, tenant_id=t, job_id=JobId(job_id), changes=job_options(_doc(body)), box=secrets
        )
        return _with_secret(render_job(job), secret, job)

    @app.post(
        "/jobs/{job_id}/secrets",
        status_code=201,
        tags=["jobs"],
        response_model=m.NewSecret,
        response_model_exclude_unset=True,
    )
    async def add_secret(
        job_id: uuid.UUID, t: Tenant, body: Annotated[m.SecretIn | None, Body()] = None
    ) -> dict[str, Any]:
        """Rotation, step 1: one more active secret (generated, or ``{"secret": ...}``);
        every delivery is signed with each active secret. Its value is shown once."""
        doc = _doc(body)
        new = await jobs.add_secret(
            db, tenant_id=t, job_id=JobId(job_id), box=secrets, value=doc.get("secret")
        )
        return {"id": new.secret_id, "secret": new.value, "job": render_job(new.job)}

    @app.delete("/jobs/{job_id}/secrets/{secret_id}", status_code=204, tags=["jobs"])
    async def remove_secret(job_id: uuid.UUID, secret_id: str, t: Tenant) -> Response:
        """Rotation, step 2: retire the old secret once the receiver uses the new one."""
        await jobs.remove_secret(db, tenant_id=t, job_id=JobId(job_id), secret_id=secret_id)
        return Response(status_code=204)

    # -- schedules ----------------------------------------------------------------------

    @app.post(
        "/schedules",
        status_code=201,
        tags=["schedules"],
        response_model=m.Schedule,
        response_model_exclude_unset=True,
    )
    async def create_schedule(
        body: m.ScheduleCreate, t: Tenant, response: Response
    ) -> dict[str, Any]:
        fields = schedule_changes(_doc(body))
        require(fields, "name", "job_id")
        schedule = await schedules.create_schedule(db, tenant_id=t, limits=quotas, **fields)
        response.headers["Location"] = f"/schedules/{schedule.id}"
        response.headers["ETag"] = f'"{schedule.version}"'
        return render_schedule(schedule)

    @app.get(
        "/schedules",
        tags=["schedules"],
        response_model=m.SchedulePage,
        response_model_exclude_unset=True,
    )
    async def list_schedules(
        t: Tenant, limit: Limit = 50, cursor: str | None = None
    ) -> dict[str, Any]:
        found = await schedules.list_schedules(db, tenant_id=t, after=_cursor(cursor), limit=limit)
        return _page(found, limit, render_schedule, lambda s: (s.created_at, s.id))

    @app.get(
        "/schedules/{schedule_id}",
        tags=["schedules"],
        response_model=m.Schedule,
        response_model_exclude_unset=True,
    )
    async def get_schedule(schedule_id: uuid.UUID, t: Tenant, response: Response) -> dict[str, Any]:
        schedule = await schedules.get_schedule(
            db, tenant_id=t, schedule_id=ScheduleId(schedule_id)
        )
        response.headers["ETag"] = f'"{schedule.version}"'
        return render_schedule(schedule)

    @app.patch(
        "/schedules/{schedule_id}",
        tags=["schedules"],
        response_model=m.Schedule,
        response_model_exclude_unset=True,
    )
    async def patch_schedule(
        schedule_id: uuid.UUID,
        body: m.SchedulePatch,
        t: Tenant,
        response: Response,
        if_match: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:
        current = await schedules.get_schedule(db, tenant_id=t, schedule_id=ScheduleId(schedule_id))
        changes = schedule_changes(_doc(body), current.timing)
        schedule = await schedules.update_schedule(
            db,
            tenant_id=t,
            schedule_id=ScheduleId(schedule_id),
            changes=changes,
            expected_version=_version(if_match) if if_match else None,
            limits=quotas,
        )
        response.headers["ETag"] = f'"{schedule.version}"'
        return render_schedule(schedule)

    @app.post(
        "/schedules/{schedule_id}/pause",
        tags=["schedules"],
        response_model=m.Schedule,
        response_model_exclude_unset=True,
    )
    async def pause_schedule(
        schedule_id: uuid.UUID, t: Tenant, response: Response
    ) -> dict[str, Any]:
        schedule = await schedules.pause_schedule(
            db, tenant_id=t, schedule_id=ScheduleId(schedule_id)
        )
        response.headers["ETag"] = f'"{schedule.version}"'
        return render_schedule(schedule)

    @app.post(
        "/schedules/{schedule_id}/resume",
        tags=["schedules"],
        response_model=m.Schedule,
        response_model_exclude_unset=True,
    )
    async def resume_schedule(
        schedule_id: uuid.UUID,
        t: Tenant,
        response: Response,
        body: Annotated[m.ResumeIn | None, Body()] = None,
    ) -> dict[str, Any]:
        schedule = await schedules.resume_schedule(
            db,
            tenant_id=t,
            schedule_id=ScheduleId(schedule_id),
            resume_from=_resume_from(_doc(body).get("resume_from", "last_fire")),
        )
        response.headers["ETag"] = f'"{schedule.version}"'
        return render_schedule(schedule)

    @app.post(
        "/schedules/{schedule_id}/trigger",
        tags=["schedules"],
        response_model=m.Run,
        response_model_exclude_unset=True,
    )
    async def trigger_schedule(
        schedule_id: uuid.UUID,
        t: Tenant,
        response: Response,
        body: Annotated[m.TriggerIn | None, Body()] = None,
        idempotency_key: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:
        options = trigger_options(_doc(body), idempotency_key)
        done = await triggers.trigger_schedule(
            db, tenant_id=t, schedule_id=ScheduleId(schedule_id), limits=quotas, **options
        )
        response.status_code = 201 if done.created else 200
        response.headers["Location"] = f"/runs/{done.run.id}"
        return render_run(done.run)

    @app.post(
        "/schedules/{schedule_id}/backfill",
        tags=["schedules"],
        response_model=m.Backfill,
        response_model_exclude_unset=True,
    )
    async def backfill_schedule(
        schedule_id: uuid.UUID, body: m.BackfillIn, t: Tenant, response: Response
    ) -> dict[str, Any]:
        request = backfill_request(_doc(body), tenant_id=t, schedule_id=ScheduleId(schedule_id))
        started = await backfills.start_backfill(db, request, holidays=holiday_provider)
        response.status_code = 201 if started.created else 200
        response.headers["Location"] = f"/backfills/{started.backfill.id}"
        return render_backfill(started.backfill)

    @app.get(
        "/backfills/{backfill_id}",
        tags=["schedules"],
        response_model=m.Backfill,
        response_model_exclude_unset=True,
    )
    async def get_backfill(backfill_id: uuid.UUID, t: Tenant) -> dict[str, Any]:
        backfill, progress = await backfills.get_backfill(
            db, tenant_id=t, backfill_id=BackfillId(backfill_id)
        )
        return render_backfill(backfill, progress)

    @app.get("/stats", tags=["runs"], response_model=m.Stats, response_model_exclude_unset=True)
    async def stats(t: Tenant, since: str | None = None) -> dict[str, Any]:
        return await _stats(t, None, since)

    @app.get(
        "/schedules/{schedule_id}/stats",
        tags=["schedules"],
        response_model=m.Stats,
        response_model_exclude_unset=True,
    )
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

    @app.get(
        "/schedules/{schedule_id}/next",
        tags=["schedules"],
        response_model=m.NextFires,
        response_model_exclude_unset=True,
    )
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

    @app.get(
        "/schedules/{schedule_id}/runs",
        tags=["schedules"],
        response_model=m.RunPage,
        response_model_exclude_unset=True,
    )
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

    @app.post(
        "/calendars",
        status_code=201,
        tags=["calendars"],
        response_model=m.Calendar,
        response_model_exclude_unset=True,
    )
    async def create_calendar(
        body: m.CalendarCreate, t: Tenant, response: Response
    ) -> dict[str, Any]:
        fields = calendar_changes(_doc(body))
        require(fields, "name")
        calendar = await calendars.create_calendar(
            db, tenant_id=t, fields=fields, holidays=holiday_provider
        )
        response.headers["Location"] = f"/calendars/{calendar.id}"
        response.headers["ETag"] = f'"{calendar.version}"'
        return render_calendar(calendar)

    @app.get(
        "/calendars",
        tags=["calendars"],
        response_model=m.CalendarPage,
        response_model_exclude_unset=True,
    )
    async def list_calendars(
        t: Tenant, limit: Limit = 50, cursor: str | None = None
    ) -> dict[str, Any]:
        found = await calendars.list_calendars(db, tenant_id=t, after=_cursor(cursor), limit=limit)
        return _page(found, limit, render_calendar, lambda c: (c.created_at, c.id))

    @app.get(
        "/calendars/{calendar_id}",
        tags=["calendars"],
        response_model=m.Calendar,
        response_model_exclude_unset=True,
    )
    async def get_calendar(calendar_id: uuid.UUID, t: Tenant, response: Response) -> dict[str, Any]:
        calendar = await calendars.get_calendar(
            db, tenant_id=t, calendar_id=CalendarId(calendar_id)
        )
        response.headers["ETag"] = f'"{calendar.version}"'
        return render_calendar(calendar)

    @app.patch(
        "/calendars/{calendar_id}",
        tags=["calendars"],
        response_model=m.Calendar,
        response_model_exclude_unset=True,
    )
    async def patch_calendar(
        calendar_id: uuid.UUID, body: m.CalendarPatch, t: Tenant, response: Response
    ) -> dict[str, Any]:
        calendar = await calendars.update_calendar(
            db,
            tenant_id=t,
            calendar_id=CalendarId(calendar_id),
            changes=calendar_changes(_doc(body)),
            holidays=holiday_provider,
        )
        response.headers["ETag"] = f'"{calendar.version}"'
        return render_calendar(calendar)

    @app.delete("/calendars/{calendar_id}", status_code=204, tags=["calendars"])
    async def delete_calendar(calendar_id: uuid.UUID, t: Tenant) -> Response:
        await calendars.delete_calendar(db, tenant_id=t, calendar_id=CalendarId(calendar_id))
        return Response(status_code=204)

    # -- runs ---------------------------------------------------------------------------

    @app.get("/runs", tags=["runs"], response_model=m.RunPage, response_model_exclude_unset=True)
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

    @app.get(
        "/runs/{run_id}", tags=["runs"], response_model=m.Run, response_model_exclude_unset=True
    )
    async def get_run(run_id: uuid.UUID, t: Tenant) -> dict[str, Any]:
        run = await runs.get_run(db, tenant_id=t, run_id=RunId(run_id))
        return render_run(run, attempts=True)

    @app.post(
        "/runs/{run_id}/retry",
        tags=["runs"],
        response_model=m.Run,
        response_model_exclude_unset=True,
    )
    async def retry_run(run_id: uuid.UUID, t: Tenant) -> dict[str, Any]:
        return render_run(await runs.retry_run(db, tenant_id=t, run_id=RunId(run_id)))

    @app.post(
        "/runs/{run_id}/cancel",
        tags=["runs"],
        response_model=m.Run,
        response_model_exclude_unset=True,
    )
    async def cancel_run(run_id: uuid.UUID, t: Tenant, response: Response) -> dict[str, Any]:
        """A run not yet running ends ``cancelled`` (200). A running one is marked
        (202, ``cancel_requested``): its worker is told, and it ends ``cancelled`` when
        the worker stops or its lease runs out."""
        run = await runs.cancel_run(db, tenant_id=t, run_id=RunId(run_id))
        if run.status is RunStatus.RUNNING:
            response.status_code = 202
        return render_run(run)

    @app.post(
        "/runs/{run_id}/complete",
        tags=["workers"],
        response_model=m.Run,
        response_model_exclude_unset=True,
    )
    async def complete_run(run_id: uuid.UUID, body: m.CompleteIn, t: Tenant) -> dict[str, Any]:
        """An external worker's success, under its lease token (stale: 409 LEASE_LOST)."""
        token, detail = _outcome(_doc(body), {"token", "detail"})
        run = await runs.report(db, tenant_id=t, run_id=RunId(run_id), token=token, detail=detail)
        return render_run(run)

    @app.post(
        "/runs/{run_id}/fail",
        tags=["workers"],
        response_model=m.Run,
        response_model_exclude_unset=True,
    )
    async def fail_run(run_id: uuid.UUID, body: m.FailIn, t: Tenant) -> dict[str, Any]:
        """An external worker's failure: retried after the job's backoff (or
        ``retry_after`` seconds if longer), dead after the last attempt; a run whose
        cancel was asked for ends ``cancelled``."""
        doc = _doc(body)
        token, detail = _outcome(doc, {"token", "error", "retry_after", "detail"})
        error = doc.get("error")
        if not isinstance(error, str) or not error.strip():
            raise InvalidRequest("error (a message) is required", field="error")
        run = await runs.report(
            db,
            tenant_id=t,
            run_id=RunId(run_id),
            token=token,
            error=error[:2000],
            retry_after=_seconds(doc.get("retry_after"), "retry_after"),
            detail=detail,
        )
        return render_run(run)

    # -- workers (the external worker protocol) ------------------------------------------

    @app.post(
        "/workers/register",
        status_code=201,
        tags=["workers"],
        response_model=m.Worker,
        response_model_exclude_unset=True,
    )
    async def register_worker(body: m.WorkerIn, t: Tenant, response: Response) -> dict[str, Any]:
        worker = await workers.register_worker(
            db, worker_id=WorkerId(new_id()), tenant_id=t, **worker_registration(_doc(body))
        )
        response.headers["Location"] = f"/workers/{worker.id}"
        return {**render_worker(worker), "lease": format_duration(runs.DEFAULT_LEASE)}

    @app.get(
        "/workers", tags=["workers"], response_model=m.WorkerPage, response_model_exclude_unset=True
    )
    async def list_workers(
        t: Tenant, limit: Limit = 50, cursor: str | None = None
    ) -> dict[str, Any]:
        found = await workers.list_workers(db, tenant_id=t, after=_cursor(cursor), limit=limit)
        return _page(found, limit, render_worker, lambda w: (w.registered_at, w.id))

    @app.get(
        "/workers/{worker_id}",
        tags=["workers"],
        response_model=m.Worker,
        response_model_exclude_unset=True,
    )
    async def get_worker(worker_id: uuid.UUID, t: Tenant) -> dict[str, Any]:
        return render_worker(
            await workers.get_worker(db, tenant_id=t, worker_id=WorkerId(worker_id))
        )

    @app.post(
        "/workers/{worker_id}/heartbeat",
        tags=["workers"],
        response_model=m.HeartbeatOut,
        response_model_exclude_unset=True,
    )
    async def worker_heartbeat(
        worker_id: uuid.UUID, t: Tenant, body: Annotated[m.HeartbeatIn | None, Body()] = None
    ) -> dict[str, Any]:
        """Extends the leases of the runs held (``{"held": {run_id: token}}``); answers
        the runs to cancel, the runs lost (stop, report nothing) and the drain flag."""
        doc = _doc(body)
        beat = await workers.heartbeat(
            db,
            worker_id=WorkerId(worker_id),
            held={RunId(k): v for k, v in held_runs(doc).items()},
            lease=lease_option(doc, runs.DEFAULT_LEASE),
            tenant_id=t,
        )
        return {
            "state": beat.worker.state.value,
            "drain": beat.drain,
            "cancel": sorted(str(r) for r in beat.cancel),
            "lost": sorted(str(r) for r in beat.lost),
        }

    @app.post(
        "/workers/{worker_id}/claim",
        tags=["workers"],
        response_model=m.ClaimOut,
        response_model_exclude_unset=True,
    )
    async def claim_runs(
        worker_id: uuid.UUID, t: Tenant, body: Annotated[m.ClaimIn | None, Body()] = None
    ) -> dict[str, Any]:
        """Long-poll: up to ``max`` runs (1..100) matching the worker's capabilities and
        free capacity, waiting up to ``wait`` seconds (0..30) for one to come due."""
        doc = _doc(body)
        limit = _bounded(doc.get("max", 1), "max", 1, MAX_CLAIM)
        wait = _bounded(doc.get("wait", 0), "wait", 0, MAX_WAIT)
        lease = lease_option(doc, runs.DEFAULT_LEASE)
        deadline = asyncio.get_running_loop().time() + wait
        pause = CLAIM_POLL_MIN
        while True:
            claimed = await runs.claim_for_worker(
                db,
                tenant_id=t,
                worker_id=WorkerId(worker_id),
                limit=int(limit),
                lease=lease,
                max_running=quotas.max_running,
            )
            if claimed is None:
                return {"runs": [], "drain": True}
            left = deadline - asyncio.get_running_loop().time()
            if claimed.runs or left <= 0:
                return {
                    "runs": [render_claimed(r, claimed.jobs.get(r.job_id)) for r in claimed.runs],
                    "drain": False,
                }
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 2, CLAIM_POLL_MAX)

    @app.post(
        "/workers/{worker_id}/report",
        tags=["workers"],
        response_model=m.ReportOut,
        response_model_exclude_unset=True,
    )
    async def report_outcomes(worker_id: uuid.UUID, body: m.ReportIn, t: Tenant) -> dict[str, Any]:
        """Many outcomes in one transaction: ``{"outcomes": [{"run_id", "token",
        "error"?, "retry_after"?, "detail"?}]}`` (at most 500; no ``error`` is success).
        Answers the ids ``recorded`` and the ids ``lost`` (stale token or unknown run:
        drop them)."""
        if len(body.outcomes) > MAX_REPORT:
            raise InvalidRequest(f"at most {MAX_REPORT} outcomes at once", field="outcomes")
        await workers.get_worker(db, tenant_id=t, worker_id=WorkerId(worker_id))
        outcomes = [_batch_outcome(item, i) for i, item in enumerate(body.outcomes)]
        done, lost = await runs.report_many(
            db, tenant_id=t, outcomes=outcomes, worker_id=WorkerId(worker_id)
        )
        return {"recorded": [str(r.id) for r in done], "lost": [str(r) for r in lost]}

    @app.post(
        "/workers/{worker_id}/drain",
        tags=["workers"],
        response_model=m.Worker,
        response_model_exclude_unset=True,
    )
    async def drain_worker(worker_id: uuid.UUID, t: Tenant) -> dict[str, Any]:
        """The worker finishes what it holds and takes nothing more (told in its next
        heartbeat answer; its claims answer ``drain: true``)."""
        return render_worker(
            await workers.drain_worker(db, tenant_id=t, worker_id=WorkerId(worker_id))
        )

    @app.post(
        "/workers/{worker_id}/stop",
        tags=["workers"],
        response_model=m.Worker,
        response_model_exclude_unset=True,
    )
    async def stop_worker(worker_id: uuid.UUID, t: Tenant) -> dict[str, Any]:
        """A clean exit: offline now (``scheduler.worker.offline``)."""
        await workers.stop_worker(db, worker_id=WorkerId(worker_id), tenant_id=t)
        return render_worker(
            await workers.get_worker(db, tenant_id=t, worker_id=WorkerId(worker_id))
        )

    def openapi_with_links() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_links(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi_with_links  # type: ignore[method-assign]
    install_dashboard(app, db, holidays=holiday_provider, limits=quotas)  # /ui
    return app


MAX_CLAIM = 100
MAX_REPORT = 500
MAX_WAIT = 30
CLAIM_POLL_MIN, CLAIM_POLL_MAX = 0.05, 0.5


def _doc(body: BaseModel | None) -> dict[str, Any]:
    """The fields the caller sent (a PATCH changes only those), as the JSON document
    the domain parsers (shared with ``kairos apply``) validate for meaning."""
    return {} if body is None else body.model_dump(exclude_unset=True, by_alias=True)


def _with_secret(doc: dict[str, Any], secret: str | None, job: Job) -> dict[str, Any]:
    if secret is not None:
        doc["secret"] = secret
        doc["secret_id"] = job.secrets[-1].id
    return doc


def _bounded(value: Any, field: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise InvalidRequest(f"{field} must be a number in {low:g}..{high:g}", field=field)
    return float(value)


def _seconds(value: Any, field: str) -> timedelta | None:
    if value is None:
        return None
    return timedelta(seconds=_bounded(value, field, 0, 86_400))


def _batch_outcome(item: Any, i: int) -> runs.Outcome:
    if not isinstance(item, dict):
        raise InvalidRequest(f"outcomes[{i}] must be an object", field=f"outcomes[{i}]")
    body = {k: v for k, v in item.items() if k != "run_id"}
    try:
        token, detail = _outcome(body, {"token", "error", "retry_after", "detail"})
        run_id = uuid.UUID(str(item.get("run_id")))
    except InvalidRequest as exc:
        where = f"outcomes[{i}].{exc.details.get('field', '')}"
        raise InvalidRequest(f"{where}: {exc.message}", field=where) from None
    except ValueError:
        where = f"outcomes[{i}].run_id"
        raise InvalidRequest(f"{where} must be a UUID", field=where) from None
    error = body.get("error")
    if error is not None and (not isinstance(error, str) or not error.strip()):
        where = f"outcomes[{i}].error"
        raise InvalidRequest(f"{where} must be a message", field=where)
    return runs.Outcome(
        run_id=RunId(run_id),
        token=token,
        error=None if error is None else error[:2000],
        retry_after=_seconds(body.get("retry_after"), f"outcomes[{i}].retry_after"),
        detail=detail,
    )


def _outcome(body: dict[str, Any], allowed: set[str]) -> tuple[str, dict[str, Any] | None]:
    unknown = set(body) - allowed
    if unknown:
        raise InvalidRequest(f"unknown field {sorted(unknown)[0]!r}", field=sorted(unknown)[0])
    token = body.get("token")
    if not isinstance(token, str) or not token:
        raise InvalidRequest("token (the run's lease token) is required", field="token")
    detail = body.get("detail")
    if detail is not None and (not isinstance(detail, dict) or len(json.dumps(detail)) > 4096):
        raise InvalidRequest("detail must be an object of at most 4 KiB", field="detail")
    return token, detail


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
        version = int(if_match.strip().removeprefix("W/").strip('"')[:12])
    except ValueError:
        version = -1
    if not 0 < version < 2**31:
        raise InvalidRequest('If-Match must be a version ETag like "3"', field="If-Match")
    return version


def _encode(key: Keyset | None) -> str | None:
    if key is None:
        return None
    raw = json.dumps([key[0].isoformat(), str(key[1])]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor(text: str | None) -> Keyset | None:
    if not text:
        return None
    refused = InvalidRequest("cursor is not one this API gave out", field="cursor")
    if len(text) > MAX_CURSOR:
        raise refused
    try:
        decoded = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if not isinstance(decoded, list) or len(decoded) != 2:
            raise refused
        at, id = decoded
        instant = datetime.fromisoformat(at)
        if instant.tzinfo is None:
            raise refused
        return instant, uuid.UUID(id)
    except (ValueError, TypeError, binascii.Error, RecursionError, AttributeError):
        raise refused from None


MAX_CURSOR = 200  # what _encode gives out is about 100 characters


def render_audit(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": str(entry.id),
        "at": entry.at.isoformat(),
        "actor": entry.actor,
        "method": entry.method,
        "path": entry.path,
        "status": entry.status,
        "before": entry.before,
        "after": entry.after,
    }

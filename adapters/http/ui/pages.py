"""The dashboard's pages and actions.

Who may do what is the API's rule, through the API's code: each request is verified by
the app's ``Authenticator`` (``app.state.context.authenticate``, the bearer verifier in
production) from the session cookie (``session.py``), rate-limited by the same limiter,
and needs ``Scope.READ`` to see a page and ``Scope.OPERATE`` to act (pause, resume,
trigger, backfill, retry, cancel), as the matching API routes in ``policy.py``. Every
read goes through ``service.usecases`` in the token's tenant's transaction, so another
tenant's ids answer 404 as in the API.

Changes are HTML forms posted with the session's CSRF token and answered by a redirect
(303) back to the page with a short confirmation. An error answers an HTML page with
the API's status for its code, or the API's JSON envelope to a client that does not
ask for HTML.

Live: ``GET /ui/events`` is a server-sent-event stream. It polls the tenant's most
recent runs about every second (one indexed query in the tenant's own transaction) and
sends each run that is new or whose status, attempt or update time changed, with its
table row rendered by the same template as the page. Polling the database keeps the
feed correct on any replica with nothing but the API's own connection, and sees
exactly what the pages read (row-level security included); the domain events on NATS
would need a connection and a per-tenant filter in the API process for the same rows.
A stream ends after ``STREAM_SECONDS`` (a stopping server waits for open responses);
the browser reconnects and sends back the id of the last stream, an instant just
before the newest change it saw, so the next stream replays from there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import jinja2
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from markupsafe import Markup

from adapters.clock import SystemClock
from adapters.http import audit
from adapters.http import models as m
from adapters.http.errors import STATUS, domain_answer, envelope
from adapters.http.ratelimit import admit
from adapters.http.ui import session, views
from domain.access import Principal, Scope
from domain.backfill import BackfillRequest
from domain.calendar import BusinessCalendar, Calendar
from domain.durations import parse_instant
from domain.errors import DomainError, Forbidden, InvalidRequest, NotFound, Unauthorized
from domain.ids import CalendarId, JobId, RunId, ScheduleId, TenantId
from domain.limits import TenantLimits
from domain.planning import plan
from domain.ports import (
    Clock,
    Database,
    HolidayProvider,
    Keyset,
    RunFilter,
    ScheduleOrder,
    ScheduleSearch,
)
from domain.run import Run, RunStatus
from domain.schedule import Schedule, ScheduleState
from service.usecases import backfills, calendars, jobs, runs, schedules
from service.usecases import manual_triggers as triggers
from service.usecases import worker_registry as workers
from service.usecases.commands import TriggerSchedule

HERE = Path(__file__).parent
PAGE = 50
BATCH = 500  # rows per read when a page needs every schedule
FEED_RUNS = 50  # the live feed watches this many most recent runs
POLL = 1.0  # seconds between the live feed's reads
FEED_OVERLAP = timedelta(seconds=2)
STREAM_SECONDS = 10.0  # a live stream's length; the browser reconnects at once
RECONNECT_MS = 500
REVERIFY = 30.0  # seconds between the live feed's checks that its token still verifies
UPCOMING_BUDGET = 200_000  # fires planned for the upcoming picture, over all schedules
SORTS = {o.value for o in ScheduleOrder}
STATE_FILTERS = {
    "active": ScheduleState.ENABLED,
    "paused": ScheduleState.PAUSED,
    "completed": ScheduleState.COMPLETED,
}
DONE = {
    "paused": "Paused.",
    "resumed": "Resumed.",
    "triggered": "Triggered: a run was created.",
    "backfill": "Backfill started.",
    "retried": "Retried: the run is pending again.",
    "cancelled": "Cancel requested.",
    "signedin": "Signed in.",
}


class SignIn(Exception):
    """No session: a page sends the browser to the sign-in form."""


@dataclass(frozen=True)
class Ui:
    db: Database
    holidays: HolidayProvider | None
    limits: TenantLimits | None
    clock: Clock
    templates: jinja2.Environment
    authenticate: Callable[[Request], Awaitable[Principal]]


def install(
    app: FastAPI,
    db: Database,
    *,
    holidays: HolidayProvider | None = None,
    limits: TenantLimits | None = None,
    clock: Clock | None = None,
) -> None:
    """Mount the dashboard at ``/ui`` on the API's ``app`` (its authenticator is
    ``app.state.context.authenticate``, read per request)."""

    async def authenticate(request: Request) -> Principal:
        verify: Callable[[Request], Awaitable[Principal]] = app.state.context.authenticate
        return await verify(request)

    ui = Ui(db, holidays, limits, clock or SystemClock(), _templates(), authenticate)
    dashboard = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    dashboard.state.limiter = getattr(app.state, "limiter", None)  # the API's, shared
    # The audit trail is the API's: same database, same denied-call sampler.
    dashboard.state.context = app.state.context
    dashboard.state.denied = app.state.denied
    dashboard.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    _routes(dashboard, ui)
    _errors(dashboard, ui)
    app.mount(session.PREFIX, dashboard)
    app.add_middleware(session.SessionBearer)


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["secs"] = views.seconds_words
    env.filters["pct"] = lambda v: "–" if v is None else f"{v * 100:.0f} %"
    env.filters["pretty"] = lambda v: json.dumps(v, indent=2, sort_keys=True, default=str)
    env.globals["qs"] = lambda **kw: urlencode({k: v for k, v in kw.items() if v})
    return env


def _when(value: datetime | None) -> Markup:
    """A ``<time>`` element: UTC text, machine-readable instant."""
    if value is None:
        return Markup("–")
    utc = value.astimezone(UTC)
    return Markup('<time datetime="{}">{}</time>').format(
        utc.isoformat().replace("+00:00", "Z"), utc.strftime("%Y-%m-%d %H:%M:%S")
    )


# -- access ---------------------------------------------------------------------------------


async def _principal(ui: Ui, request: Request, needed: Scope) -> Principal:
    if session.bearer_of(request) is None:
        raise SignIn()
    principal = await ui.authenticate(request)
    request.state.principal = principal  # known to the audit trail, even when denied
    admit(request, principal)
    if not principal.allows(needed):
        raise Forbidden(f"this needs {needed.value}", needed=needed.value)
    request.state.principal = principal
    return principal


@contextlib.asynccontextmanager
async def _audited(request: Request) -> AsyncIterator[audit.Recorder]:
    """A dashboard change in the API's audit trail (``adapters/http/audit.py``): the
    route hands the recorder the resource before and after; a refused change is
    recorded with its status, as the API records it."""
    change = audit.Recorder()
    try:
        yield change
    except DomainError as exc:
        status = STATUS.get(exc.code, 422)
        if status in audit.DENIED:
            await audit.denied(request, status)
        else:
            await audit.write(request, status, before=change.seen, after=change.seen)
        raise
    await audit.write(request, 303, before=change.seen, after=change.made)


async def _schedule_model(db: Database, tenant: TenantId, schedule_id: ScheduleId) -> m.Schedule:
    found = await schedules.get_schedule(db, tenant_id=tenant, schedule_id=schedule_id)
    return m.Schedule.from_domain(found)


async def _run_model(db: Database, tenant: TenantId, run_id: RunId) -> m.Run:
    return m.Run.from_domain(await runs.get_run(db, tenant_id=tenant, run_id=run_id))


async def _form(request: Request) -> dict[str, str]:
    """The posted form (urlencoded), its CSRF token checked against the session's."""
    try:
        fields = parse_qs((await request.body()).decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise InvalidRequest("the form is not UTF-8", field="body") from None
    form = {key: values[-1] for key, values in fields.items()}
    if not session.csrf_ok(session.bearer_of(request), form.get("csrf")):
        raise Forbidden("the form's CSRF token is missing or wrong: reload the page", field="csrf")
    return form


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _errors(dashboard: FastAPI, ui: Ui) -> None:
    def page(request: Request, status: int, code: str, message: str) -> Response:
        if not _wants_html(request):
            return envelope(status, code, message)
        principal = getattr(request.state, "principal", None)
        return _render(
            ui,
            request,
            "error.html",
            principal,
            status=status,
            error_status=status,
            code=code,
            message=message,
        )

    @dashboard.exception_handler(SignIn)
    async def sign_in(request: Request, _: SignIn) -> Response:
        if request.method == "GET" and _wants_html(request):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/ui/signin?{urlencode({'next': target})}", 303)
        return domain_answer(Unauthorized("sign in first: no session"))

    @dashboard.exception_handler(DomainError)
    async def domain(request: Request, exc: DomainError) -> Response:
        if isinstance(exc, Unauthorized) and request.method == "GET" and _wants_html(request):
            answer = RedirectResponse(
                f"/ui/signin?{urlencode({'next': request.url.path, 'expired': '1'})}", 303
            )
            session.clear_session(answer, request)
            return answer
        if not _wants_html(request):
            return domain_answer(exc)
        return page(request, STATUS.get(exc.code, 422), exc.code, exc.message)

    @dashboard.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("path", "query"))
        if first.get("loc", ("",))[0] == "path":
            return page(request, 404, "NOT_FOUND", f"no such {where.replace('_id', '')}")
        return page(request, 422, "INVALID_REQUEST", f"{where}: {first.get('msg', 'invalid')}")


def _render(
    ui: Ui,
    request: Request,
    name: str,
    principal: Principal | None,
    *,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    token = session.bearer_of(request)
    html = ui.templates.get_template(name).render(
        request_path=request.url.path,
        principal=principal,
        can_operate=principal is not None and principal.allows(Scope.OPERATE),
        csrf=session.csrf_token(token) if token else "",
        done=DONE.get(request.query_params.get("done", "")),
        now=ui.clock.now(),
        # The live feed's starting point: a little before this read, so that a change
        # the database stamped as this page was read is sent, not missed.
        since=(ui.clock.now() - FEED_OVERLAP).isoformat(),
        views=views,
        **context,
    )
    answer = HTMLResponse(html, status_code=status)
    answer.headers["Cache-Control"] = "no-store"
    answer.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    )
    answer.headers["X-Content-Type-Options"] = "nosniff"
    answer.headers["Referrer-Policy"] = "same-origin"
    return answer


def _back(path: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"{path}{'&' if '?' in path else '?'}done={done}", 303)


# -- reads -----------------------------------------------------------------------------------


async def _every_schedule(ui: Ui, tenant: TenantId) -> list[Schedule]:
    found: list[Schedule] = []
    after: Keyset | None = None
    while True:
        batch = await schedules.list_schedules(ui.db, tenant_id=tenant, after=after, limit=BATCH)
        found.extend(batch)
        if len(batch) < BATCH:
            return found
        after = (batch[-1].created_at, batch[-1].id)


async def _summary(
    ui: Ui, tenant: TenantId, schedule: Schedule
) -> tuple[views.RunView | None, float | None]:
    """A schedule's last run and its success rate over the last 24 hours."""
    last = await runs.list_runs(
        ui.db, tenant_id=tenant, where=RunFilter(schedule_id=schedule.id), after=None, limit=1
    )
    stats, _ = await runs.run_stats(ui.db, tenant_id=tenant, schedule_id=schedule.id)
    return (views.run_view(last[0]) if last else None), stats.success_rate


async def _names(ui: Ui, tenant: TenantId, ids: set[ScheduleId]) -> dict[ScheduleId, str]:
    """The names of these schedules (a deleted one has none)."""

    async def name(schedule_id: ScheduleId) -> tuple[ScheduleId, str | None]:
        try:
            found = await schedules.get_schedule(ui.db, tenant_id=tenant, schedule_id=schedule_id)
        except NotFound:
            return schedule_id, None
        return schedule_id, found.name

    named = await asyncio.gather(*(name(i) for i in ids))
    return {i: n for i, n in named if n is not None}


async def _with_attempts(ui: Ui, tenant: TenantId, found: Sequence[Run]) -> list[Run]:
    """The runs with their attempts (a list reads runs without them), for lateness,
    durations and errors."""
    return list(
        await asyncio.gather(*(runs.get_run(ui.db, tenant_id=tenant, run_id=r.id) for r in found))
    )


def _instant(text: str | None, field: str) -> datetime | None:
    """An instant from a form or query: ISO with offset, or a browser's
    ``datetime-local`` value read as UTC."""
    if not text:
        return None
    return parse_instant(text, field=field, tz=UTC)


def _uuid(text: str | None, field: str) -> uuid.UUID | None:
    if not text:
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        raise InvalidRequest(f"{field} must be an id (a UUID)", field=field) from None


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


def _statuses(text: str | None) -> frozenset[RunStatus]:
    if not text:
        return frozenset()
    try:
        return frozenset(RunStatus(v) for v in text.split(",") if v)
    except ValueError:
        raise InvalidRequest(
            f"status must be one of {[s.value for s in RunStatus]}", field="status"
        ) from None


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


async def _business_calendars(
    ui: Ui, tenant: TenantId
) -> tuple[list[Calendar], dict[CalendarId, BusinessCalendar]]:
    found = await calendars.list_calendars(ui.db, tenant_id=tenant, after=None, limit=BATCH)
    return list(found), {c.id: BusinessCalendar(c, ui.holidays) for c in found}


def _month(text: str | None, today: date) -> tuple[int, int]:
    if not text:
        return today.year, today.month
    try:
        year, month = (int(p) for p in text.split("-", 1))
        date(year, month, 1)
    except ValueError:
        raise InvalidRequest("month must look like 2026-12", field="month") from None
    return year, month


# -- routes -----------------------------------------------------------------------------------


def _routes(dashboard: FastAPI, ui: Ui) -> None:
    db = ui.db

    @dashboard.get("/")
    async def home() -> RedirectResponse:
        return RedirectResponse("/ui/schedules", 303)

    @dashboard.get("/signin")
    async def signin_form(request: Request) -> HTMLResponse:
        return _render(
            ui,
            request,
            "signin.html",
            None,
            next=_local(request.query_params.get("next")),
            expired=bool(request.query_params.get("expired")),
            error=None,
        )

    @dashboard.post("/signin")
    async def signin(request: Request) -> Response:
        fields = parse_qs((await request.body()).decode("utf-8", "replace"))
        token = (fields.get("token") or [""])[-1].strip()
        target = _local((fields.get("next") or [""])[-1])
        error = None
        if not token or not token.isascii() or len(token) > 4096:
            error = "Paste an API token (a JWT)."
        else:
            probe = _with_bearer(request, token)
            try:
                principal = await ui.authenticate(probe)
                admit(probe, principal)
                if not principal.allows(Scope.READ):
                    error = "This token has no scheduler:read scope."
            except DomainError as exc:
                error = exc.message
        if error is not None:
            return _render(
                ui,
                request,
                "signin.html",
                None,
                next=target,
                expired=False,
                error=error,
                status=401,
            )
        answer = RedirectResponse(target + ("&" if "?" in target else "?") + "done=signedin", 303)
        session.set_session(answer, request, token)
        return answer

    @dashboard.post("/signout")
    async def signout(request: Request) -> Response:
        await _principal(ui, request, Scope.READ)
        await _form(request)
        answer = RedirectResponse("/ui/signin", 303)
        session.clear_session(answer, request)
        return answer

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

    # -- live -----------------------------------------------------------------------------

    @dashboard.get("/events")
    async def events(request: Request) -> StreamingResponse:
        principal = await _principal(ui, request, Scope.READ)
        params = request.query_params
        schedule = _uuid(params.get("schedule"), "schedule")
        where = RunFilter(
            schedule_id=ScheduleId(schedule) if schedule else None,
            statuses=_statuses(params.get("status")),
        )
        # Changes after ``since`` (the page's render time, or the last event id a
        # reconnecting EventSource sends back) are sent on the first read too, so a
        # change between the page's read and the feed's first one is not lost.
        since = _since(request.headers.get("last-event-id") or params.get("since"))
        row = ui.templates.get_template("_rows.html").module.run_row  # type: ignore[attr-defined]
        token = session.bearer_of(request) or ""
        csrf = session.csrf_token(token) if token else ""
        can_operate = principal.allows(Scope.OPERATE)
        tenant = principal.tenant_id
        with_names = params.get("names") == "1"
        back = _local(params.get("back"))
        names: dict[ScheduleId, str] = {}

        async def stream() -> AsyncIterator[str]:
            seen: dict[RunId, tuple[str, int, str]] | None = None
            verified = opened = time.monotonic()
            newest = since
            yield f"retry: {RECONNECT_MS}\n\n"
            while not await request.is_disconnected():
                if time.monotonic() - opened > STREAM_SECONDS:
                    # End the stream (a server that stops waits for open responses):
                    # the browser reconnects at once, sending this id back as its
                    # starting point, so nothing between the two streams is missed.
                    if newest is not None:
                        yield f"id: {(newest - FEED_OVERLAP).isoformat()}\n\n"
                    return
                if time.monotonic() - verified > REVERIFY:
                    try:
                        await ui.authenticate(request)
                    except DomainError:
                        yield "event: signedout\ndata: {}\n\n"
                        return
                    verified = time.monotonic()
                found = await runs.list_runs(
                    db, tenant_id=principal.tenant_id, where=where, after=None, limit=FEED_RUNS
                )
                current = {r.id: views.run_fingerprint(r) for r in found}
                for run in found:
                    if newest is None or run.updated_at > newest:
                        newest = run.updated_at
                if seen is not None or since is not None:
                    for run in reversed(found):  # oldest first: new rows stack on top
                        if seen is None:
                            if since is not None and run.updated_at < since:
                                continue
                        elif seen.get(run.id) == current[run.id]:
                            continue
                        full = await _with_attempts(ui, principal.tenant_id, [run])
                        view = views.run_view(full[0])
                        if with_names and run.schedule_id not in names:
                            names.update(await _names(ui, tenant, {run.schedule_id}))
                        data = {
                            "id": str(run.id),
                            "schedule_id": str(run.schedule_id),
                            "status": run.status.value,
                            "words": view.status_words,
                            "html": str(
                                row(
                                    view,
                                    csrf=csrf,
                                    can_operate=can_operate,
                                    names=names,
                                    back=back,
                                    show_schedule=with_names,
                                )
                            ),
                        }
                        yield f"event: run\ndata: {json.dumps(data)}\n\n"
                if seen is None:
                    yield "event: ready\ndata: {}\n\n"
                seen = current
                await asyncio.sleep(POLL)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )


def _since(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequest("since must be an instant", field="since") from None
    if value.tzinfo is None:
        raise InvalidRequest("since must carry a UTC offset", field="since")
    return value


def _target(form: Mapping[str, str], default: str) -> str:
    """Where a form's ``back`` field asks to return, else ``default``."""
    return _local(form["back"]) if form.get("back") else default


def _local(target: str | None) -> str:
    """Only a path of the dashboard itself (never another site) is a redirect target."""
    if not target or not target.startswith("/ui") or target.startswith("//"):
        return "/ui/schedules"
    if any(c in target for c in "\\\r\n") or target.startswith("/ui/signin"):
        return "/ui/schedules"
    return target


def _with_bearer(request: Request, token: str) -> Request:
    """The sign-in request as the authenticator reads it: the posted token as bearer."""
    headers = [(k, v) for k, v in request.scope["headers"] if k != b"authorization"]
    headers.append((b"authorization", b"Bearer " + token.encode("ascii")))
    return Request({**request.scope, "headers": headers})

"""The dashboard's app: ``install`` mounts it at ``/ui`` with its templates and error
pages. An error answers an HTML page with the API's status for its code, or the API's
JSON envelope to a client that does not ask for HTML. The pages are in ``access.py``
(sign-in), ``schedules.py``, ``runs.py``, ``fleet.py`` (workers, calendars) and
``live.py`` (the live feed)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import jinja2
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from markupsafe import Markup

from adapters.clock import SystemClock
from adapters.http.errors import STATUS, domain_answer, envelope
from adapters.http.ui import access, fleet, live, session, views
from adapters.http.ui import runs as run_pages
from adapters.http.ui import schedules as schedule_pages
from adapters.http.ui.access import SignIn, Ui, _render, _wants_html
from domain.access import Principal
from domain.errors import DomainError, Unauthorized
from domain.limits import TenantLimits
from domain.ports import Clock, Database, HolidayProvider

HERE = Path(__file__).parent


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
    for group in (access, schedule_pages, run_pages, fleet, live):
        group.routes(dashboard, ui)
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

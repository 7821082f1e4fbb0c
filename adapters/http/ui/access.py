"""The dashboard's access rules and the helpers every page shares, and the sign-in pages.

Who may do what is the API's rule, through the API's code: each request is verified by
the app's ``Authenticator`` (``app.state.context.authenticate``, the bearer verifier in
production) from the session cookie (``session.py``), rate-limited by the same limiter,
and needs ``Scope.READ`` to see a page and ``Scope.OPERATE`` to act (pause, resume,
trigger, backfill, retry, cancel), as the matching API routes in ``policy.py``. Every
read goes through ``service.usecases`` in the token's tenant's transaction, so another
tenant's ids answer 404 as in the API.

Changes are HTML forms posted with the session's CSRF token and answered by a redirect
(303) back to the page with a short confirmation.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from adapters.http import audit
from adapters.http import models as m
from adapters.http.errors import STATUS
from adapters.http.ratelimit import admit
from adapters.http.ui import session, views
from domain.access import Principal, Scope
from domain.errors import DomainError, Forbidden, InvalidRequest
from domain.ids import RunId, ScheduleId, TenantId
from domain.limits import TenantLimits
from domain.ports import Clock, Database, HolidayProvider
from service.usecases import runs, schedules

FEED_OVERLAP = timedelta(seconds=2)
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


# -- sign-in --------------------------------------------------------------------------------


def routes(dashboard: FastAPI, ui: Ui) -> None:
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

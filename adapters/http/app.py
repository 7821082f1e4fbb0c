"""The REST API's app factory: the collaborators, the middleware (outer boundary, log
context), the error envelope (``errors.py``) and one router per resource
(``routes/``). Routes are thin: they parse, resolve the tenant, call a use case and
render the answer. No or bad token 401, missing scope 403, another tenant's object 404
(row-level security never shows it). See docs/engine.md, *API and documents*."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import FastAPI, Request

from adapters.holiday_sources import LibraryHolidayProvider
from adapters.http import audit
from adapters.http import models as m
from adapters.http.boundary import Boundary
from adapters.http.deps import Authenticator, Context, check_scopes
from adapters.http.docs import add_security, install_docs
from adapters.http.errors import install
from adapters.http.links import add_links
from adapters.http.ratelimit import RateLimiter
from adapters.http.routes import ROUTERS
from adapters.http.strict_query import refuse_unknown_queries
from adapters.http.ui import install as install_dashboard
from adapters.metrics import PrometheusMetrics
from domain.addresses import AddressPolicy
from domain.ids import TenantId
from domain.limits import TenantLimits
from domain.ports import Database, HolidayProvider, SecretBox
from service.usecases.health import Readiness


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
    addresses: AddressPolicy | None = None,
) -> FastAPI:
    """The API over ``db``. ``holidays`` reads calendars' holiday sources (countries,
    iCalendar): the library one unless a test gives another. ``secrets`` seals HTTP
    targets' signing secrets (without it, creating an HTTP job answers 503).
    ``operator``: the tenant whose admins may see every tenant's usage (none: nobody),
    read through ``system_db``. ``system_db`` (the scheduler's role) serves only the
    reads that span tenants and take no tenant input: the operator's usage and the
    metrics' queue depth; ``db`` is the API's own ``kairos_app`` login, which sees one
    tenant per transaction and nothing more. Without ``system_db``, ``db`` does both.
    ``addresses``: the SSRF guard's policy (the one the HTTP executor is given), so an
    HTTP job whose URL it refuses as written is refused on write (default: public
    addresses only)."""
    app = FastAPI(
        title="Kairos",
        version="0.1.0",
        description="Tenant-scoped scheduling: schedules, jobs and their runs. Every error "
        "answers the envelope ``{error: {code, message, details, timestamp}}``; a query "
        "parameter a route does not take is refused (422 naming it). Lists take ``name`` "
        "for an exact lookup.",
        responses=m.ERRORS,
        docs_url=None,  # served below from swagger-ui's packaged files, not a CDN
        redoc_url=None,
    )
    install(app)
    app.middleware("http")(_log_context)
    app.add_middleware(Boundary)  # outermost: bad input never reaches the rest

    app.state.context = Context(
        db=db,
        authenticate=auth,
        holidays=holidays or LibraryHolidayProvider(),
        secrets=secrets,
        readiness=readiness,
        metrics=metrics,
        quotas=limits or TenantLimits(),
        operator=operator,
        system_db=system_db or db,
        addresses=addresses or AddressPolicy(),
    )
    app.state.limiter = limiter
    app.state.denied = audit.DeniedSampler()
    for router in ROUTERS:
        # The routes themselves, not a lazily included router: each is an ``APIRoute``
        # of the app, as built on its resource's router (with the error answers).
        app.router.routes.extend(router.routes)
    check_scopes(app.routes)  # deny by default: no route without a declared scope
    refuse_unknown_queries(app.routes)

    def openapi_with_links() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_security(add_links(FastAPI.openapi(app)), app.routes)
        return app.openapi_schema

    app.openapi = openapi_with_links  # type: ignore[method-assign]
    install_docs(app)
    install_dashboard(app, db, holidays=app.state.context.holidays, limits=app.state.context.quotas)
    return app


async def _log_context(request: Request, call_next: Callable[..., Awaitable[Any]]) -> Any:
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

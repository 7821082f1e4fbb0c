"""What a route depends on: who calls (the principal), for which tenant, whether the
call is within the rate limit and the scope the route needs, and the app's collaborators
(database, holiday provider, secret box, quotas).

A route declares its scope in its signature, where it is defined: ``t: Admin``,
``t: Operate`` or ``t: Read`` (the tenant id, once the caller is authenticated, within
the rate limit and holds the scope, in that order). A probe answered without credentials
says so with ``dependencies=[PUBLIC]``. ``check_scopes`` refuses to build an app with a
route that declares neither (deny by default, at build time).

Who calls: the app's ``Authenticator`` turns a request into a ``Principal`` (tenant and
scopes). ``bearer`` verifies a JWT (``adapters/auth``): the tenant comes from the
verified token only. ``header_principal`` (tenant from a ``Kairos-Tenant`` header, every
scope) exists for tests of the routes themselves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Annotated

import structlog
from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from adapters.auth.tokens import TokenVerifier
from adapters.http import audit
from adapters.http.ratelimit import admit
from adapters.metrics import PrometheusMetrics
from domain.access import Principal, Scope
from domain.addresses import AddressPolicy
from domain.errors import Forbidden, RateLimited, Unauthorized
from domain.ids import TenantId, parse_tenant
from domain.limits import TenantLimits
from domain.ports import Database, HolidayProvider, SecretBox
from service.usecases.health import Readiness

Authenticator = Callable[[Request], Awaitable[Principal]]


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


@dataclass(frozen=True, slots=True)
class Context:
    """The app's collaborators, as ``create_app`` was given them. ``system_db`` serves
    only the reads that span tenants and take no tenant input (the operator's usage,
    the metrics' queue depth); ``db`` is the API's own login, one tenant at a time."""

    db: Database
    authenticate: Authenticator
    holidays: HolidayProvider
    secrets: SecretBox | None
    readiness: Readiness | None
    metrics: PrometheusMetrics | None
    quotas: TenantLimits
    operator: TenantId | None
    system_db: Database
    # The SSRF guard's policy (the same the HTTP executor applies at delivery): a job
    # whose URL it refuses as written is refused when it is written.
    addresses: AddressPolicy = field(default_factory=AddressPolicy)


def context(request: Request) -> Context:
    found: Context = request.app.state.context
    return found


Ctx = Annotated[Context, Depends(context)]


class Needs:
    """The dependency that admits a caller to a route needing ``scope``: authenticated
    (401), within its rate limit (429, spent before anything is read), holding the
    scope (403). Its value is the caller's tenant."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    def __repr__(self) -> str:
        return f"Needs({self.scope.value})"

    async def __call__(self, request: Request) -> TenantId:
        return (await admitted(request, self.scope)).tenant_id


async def admitted(request: Request, scope: Scope) -> Principal:
    """The caller, authenticated, within its rate limit and holding ``scope``. A
    denied call (429, 403) to a route that records its changes is audited (sampled)."""
    principal: Principal | None = getattr(request.state, "principal", None)
    try:
        if principal is None:
            app_context: Context = request.app.state.context
            principal = await app_context.authenticate(request)
            request.state.principal = principal
            admit(request, principal)
        if not principal.allows(scope):
            raise Forbidden(f"this call needs {scope.value}", needed=scope.value)
    except (Forbidden, RateLimited) as exc:
        if audit.audited(request.scope.get("route")):
            await audit.denied(request, 403 if isinstance(exc, Forbidden) else 429)
        raise
    structlog.contextvars.bind_contextvars(tenant_id=principal.tenant_id)
    return principal


class Public:
    """The marker of a route answered without credentials (health probes, metrics)."""

    def __repr__(self) -> str:
        return "Public()"

    async def __call__(self) -> None:
        return None


NEEDS = {scope: Needs(scope) for scope in Scope}
PUBLIC = Depends(Public())
Admin = Annotated[TenantId, Depends(NEEDS[Scope.ADMIN])]
Operate = Annotated[TenantId, Depends(NEEDS[Scope.OPERATE])]
Read = Annotated[TenantId, Depends(NEEDS[Scope.READ])]


def _calls(dependant: Dependant) -> Iterator[object]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def scope_of(route: APIRoute) -> Scope | None:
    """The scope a route declares (None: it is public). A route that declares neither,
    or both, or two scopes, is a ``LookupError``."""
    calls = list(_calls(route.dependant))
    scopes = [c.scope for c in calls if isinstance(c, Needs)]
    public = any(isinstance(c, Public) for c in calls)
    if len(scopes) + public != 1:
        raise LookupError(
            f"{sorted(route.methods or ())} {route.path} must declare one scope (Admin, Operate, "
            f"Read) or be PUBLIC; it declares {scopes or 'none'}{' and PUBLIC' if public else ''}"
        )
    return scopes[0] if scopes else None


def check_scopes(routes: Iterable[object]) -> dict[tuple[str, str], Scope | None]:
    """Every API route's scope by (method, path); raises if one declares none: the app
    is not built rather than serving a route nobody decided who may call. A router
    included with ``include_router`` is checked route by route too."""
    out: dict[tuple[str, str], Scope | None] = {}
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            out.update(check_scopes(included.routes))
        elif isinstance(route, APIRoute):
            scope = scope_of(route)
            for method in route.methods or ():
                out[(method, route.path)] = scope
    return out

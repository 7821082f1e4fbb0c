"""Deny by default at build time: a route that declares no scope keeps the app from
being built."""

from __future__ import annotations

import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute

from adapters.http.api import create_app, header_principal
from adapters.http.deps import PUBLIC, Admin, check_scopes, scope_of
from adapters.http.policy import POLICY
from adapters.http.policy import PUBLIC as PUBLIC_ROUTES
from adapters.memory.database import MemoryDatabase
from domain.access import Scope
from domain.ids import TenantId


def _route(router: APIRouter) -> APIRoute:
    route = router.routes[-1]
    assert isinstance(route, APIRoute)
    return route


def test_a_route_without_a_scope_refuses_the_build() -> None:
    """A route declaring neither a scope nor PUBLIC raises, naming itself."""
    router = APIRouter()

    @router.get("/forgotten")
    async def forgotten() -> None:
        return None

    with pytest.raises(LookupError, match="/forgotten must declare one scope"):
        check_scopes(router.routes)


def test_a_route_declaring_a_scope_and_public_refuses_the_build() -> None:
    """Both a scope and PUBLIC is as wrong as neither."""
    router = APIRouter(dependencies=[PUBLIC])

    @router.get("/both")
    async def both(t: Admin) -> str:
        return str(t)

    with pytest.raises(LookupError, match="and PUBLIC"):
        scope_of(_route(router))


def test_a_declared_scope_is_read_from_the_route() -> None:
    """The scope a route's signature names is the one the policy table lists."""
    router = APIRouter()

    @router.post("/things")
    async def make(t: Admin) -> TenantId:
        return t

    assert check_scopes(router.routes) == {("POST", "/things"): Scope.ADMIN}
    assert POLICY[("POST", "/jobs")] is Scope.ADMIN
    assert POLICY[("GET", "/jobs")] is Scope.READ
    assert ("GET", "/health/live") in PUBLIC_ROUTES


def test_an_included_router_is_checked_too() -> None:
    """A router added with include_router cannot slip a route past the check."""
    app = create_app(MemoryDatabase(), auth=header_principal)
    extra = APIRouter()

    @extra.get("/extra")
    async def extra_route() -> None:
        return None

    app.include_router(extra)
    with pytest.raises(LookupError, match="/extra must declare one scope"):
        check_scopes(app.routes)

"""Unknown query parameters are refused, on every tenant route at once: a typo such as
``/schedules?nme=x`` answers 422 ``INVALID_REQUEST`` naming ``nme`` instead of a
silently unfiltered list.

Each API route's declared query parameters (its own and its dependencies', by their
aliases: ``from``, not ``from_``) are read from the route once, when the app is built;
the route's ASGI app is wrapped to compare a request's query keys with them before
anything else runs. The probes and ``/metrics`` (public, asked by orchestrators that
may add their own parameters), the dashboard (a mounted sub-app) and FastAPI's own
``/docs`` and ``/openapi.json`` are left as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from urllib.parse import parse_qsl

import orjson
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from adapters.envelope import error_body
from adapters.http.boundary import App, Receive, Scope, Send
from adapters.http.deps import scope_of


def declared(dependant: Dependant) -> frozenset[str]:
    """The query parameter names a route (``dependant``) takes, through its dependencies."""
    return frozenset(_names(dependant))


def _names(dependant: Dependant) -> Iterator[str]:
    for field in dependant.query_params:
        yield field.alias or field.name
    for sub in dependant.dependencies:
        yield from _names(sub)


def refuse_unknown_queries(routes: Iterable[object]) -> None:
    """Wrap every non-public API route of ``routes`` so that a query parameter it does
    not declare is refused."""
    for route in routes:
        if isinstance(route, APIRoute) and scope_of(route) is not None:
            route.app = _Strict(route.app, declared(route.dependant))


class _Strict:
    def __init__(self, app: App, allowed: frozenset[str]) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get("query_string", b"").decode("ascii", "replace")
        for key, _ in parse_qsl(raw, keep_blank_values=True):
            if key not in self.allowed:
                await _refuse(send, key, self.allowed)
                return
        await self.app(scope, receive, send)


async def _refuse(send: Send, key: str, allowed: frozenset[str]) -> None:
    known = ", ".join(sorted(allowed)) or "none"
    message = f"unknown query parameter {key!r}; this route takes: {known}"
    payload = orjson.dumps(error_body("INVALID_REQUEST", message, {"field": key}))
    await send(
        {
            "type": "http.response.start",
            "status": 422,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})

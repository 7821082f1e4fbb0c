"""``/docs``: the interactive API reference, usable as it comes.

- Its assets (swagger-ui's script, style sheet and icon) are served by Kairos itself
  from the ``swagger-ui-bundle`` package under ``/docs/assets``: no CDN, so it works
  offline and behind a strict egress policy.
- The OpenAPI document declares the bearer scheme every tenant route takes, so
  "Authorize" asks for the token once and "Try it out" sends it; the public probes
  declare none.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import swagger_ui_bundle
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from starlette.staticfiles import StaticFiles

from adapters.http.deps import scope_of

ASSETS = "/docs/assets"
SCHEME = "bearer"


def install_docs(app: FastAPI) -> None:
    assets = StaticFiles(directory=str(swagger_ui_bundle.swagger_ui_path))
    app.mount(ASSETS, assets, name="docs-assets")

    async def docs(_: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
            swagger_ui_parameters={"persistAuthorization": True},
        )

    # A plain route (as FastAPI's own /docs is), not an API route with a scope.
    app.router.add_route("/docs", docs, include_in_schema=False)


def add_security(document: dict[str, Any], routes: Iterable[object]) -> dict[str, Any]:
    """The bearer scheme, required by every operation of a tenant route (a token with
    the route's scope); the public ones (probes, metrics) require none."""
    components = document.setdefault("components", {})
    components.setdefault("securitySchemes", {})[SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "a token whose scopes include the route's (read, operate or admin)",
    }
    paths = document.get("paths", {})
    for route in routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        needs = scope_of(route)
        for method in route.methods or ():
            operation = paths.get(route.path_format, {}).get(method.lower())
            if operation is not None:
                operation["security"] = [{SCHEME: []}] if needs is not None else []
    return document

"""A small REST client for the operator commands (``kairos get|describe|trigger...``).

Everything goes through the API, so a command is authenticated, scoped and audited like
any other call. Every failure is one ``CliError`` with a one-line text and an exit
code: ``ApiError`` carries the API's error envelope, ``Unreachable`` says that nothing
answers at the server's address.

Where the server is, and the token: ``KAIROS_URL`` and ``KAIROS_TOKEN``; else what a
``kairos dev`` running in this folder recorded under ``./.kairos`` (its ``env`` file,
written by ``service.runtime.processes.dev``) with a short-lived token minted from its
dev keys, as ``kairos token`` mints them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from adapters.auth.tokens import DevKeys
from domain.access import Scope
from domain.errors import InvalidRequest
from domain.ids import parse_tenant
from service.runtime.dev import State, not_running_text, read_dev_env, status

EXIT_ERROR = 1
EXIT_USAGE = 2
PAGE = 500  # the API's largest page
DEV_TOKEN_TTL = timedelta(minutes=10)


class CliError(Exception):
    """What a command prints on stderr (one or two lines) and the exit code it ends with."""

    def __init__(self, text: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(text)
        self.text = text
        self.exit_code = exit_code


class ApiError(CliError):
    """The API answered an error: its envelope's code, message and details."""

    def __init__(self, status: int, code: str, message: str, details: Mapping[str, Any]) -> None:
        self.status, self.code, self.message = status, code, message
        self.details = dict(details)
        where = self.details.get("field")
        text = f"{code}: {message}" + (f" (field: {where})" if where else "")
        super().__init__(text)

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        try:
            body = response.json()
            error = body["error"]
            return cls(
                response.status_code,
                str(error["code"]),
                str(error["message"]),
                error.get("details") or {},
            )
        except (ValueError, KeyError, TypeError):
            text = response.text.strip().replace("\n", " ")[:200] or response.reason_phrase
            return cls(response.status_code, f"HTTP {response.status_code}", text, {})

    @property
    def route_missing(self) -> bool:
        """The server has no such route or method (an older server): 405, or the
        router's own 404 (the envelope's message is then the bare reason phrase)."""
        return self.status == 405 or (self.status == 404 and self.message == "Not Found")


class Unreachable(CliError):
    """Nothing answers at the server's address."""


@dataclass(frozen=True)
class Connection:
    url: str
    token: str | None
    from_dev: bool = False  # found through ./.kairos (the dev stack)
    headers: Mapping[str, str] = field(default_factory=dict)


def connection(
    environ: Mapping[str, str],
    *,
    data: Path,
    url: str | None = None,
    tenant: str | None = None,
    now: float | None = None,
) -> Connection:
    """The server and token: flags, then ``KAIROS_URL``/``KAIROS_TOKEN``, then the dev
    stack recorded under ``data`` (its API's URL, a token minted from its keys for
    ``tenant`` or ``KAIROS_TENANT``)."""
    token = environ.get("KAIROS_TOKEN") or None
    recorded = read_dev_env(data).get("KAIROS_API_URL")
    chosen = url or environ.get("KAIROS_URL") or recorded
    from_dev = chosen is not None and chosen == recorded
    if chosen is None and status(data).state is State.STOPPED:
        raise CliError(f"{not_running_text(data)} (or set KAIROS_URL and KAIROS_TOKEN)")
    if chosen is None:
        raise CliError(
            "no server: set KAIROS_URL (and KAIROS_TOKEN), or run this next to a "
            f"`kairos dev` (nothing recorded under {data})"
        )
    if token is None and from_dev:  # a dev token only ever goes to the dev stack
        keys = DevKeys(data / "auth")
        if (keys.folder / "signing.pem").exists():
            name = tenant or environ.get("KAIROS_TENANT")
            if not name:
                raise CliError(
                    "which tenant? give --tenant T or set KAIROS_TENANT (the dev stack's "
                    "token is minted for it), or set KAIROS_TOKEN",
                    EXIT_USAGE,
                )
            try:
                tenant_id = parse_tenant(name)
            except InvalidRequest as exc:
                raise CliError(f"--tenant: {exc.message}", EXIT_USAGE) from None
            token = keys.mint(
                tenant_id,
                [s.value for s in Scope],
                ttl=DEV_TOKEN_TTL,
                now=time.time() if now is None else now,
            )
    return Connection(url=chosen.rstrip("/"), token=token, from_dev=from_dev)


class ApiClient:
    """JSON in, JSON out; every error is a ``CliError``."""

    def __init__(
        self,
        conn: Connection,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 15.0,
    ) -> None:
        headers = {"Accept": "application/json", **conn.headers}
        if conn.token:
            headers["Authorization"] = f"Bearer {conn.token}"
        self.conn = conn
        self._http = httpx.AsyncClient(
            base_url=conn.url, headers=headers, transport=transport, timeout=timeout
        )
        self._openapi: dict[str, Any] | None = None

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = await self._http.request(
                method,
                path,
                params=clean,
                json=body,
                headers=dict(headers or {}),
            )
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        if response.status_code >= 400:
            error = ApiError.from_response(response)
            if error.status == 401 and not self.conn.token:
                error.text += " (no token: set KAIROS_TOKEN)"
            raise error
        return response

    def _unreachable(self, exc: httpx.TransportError) -> Unreachable:
        reason = str(exc) or type(exc).__name__
        if self.conn.from_dev:
            return Unreachable(
                f"the dev stack is not running (nothing answers at {self.conn.url}): "
                "start it with `make dev` or `kairos dev`"
            )
        return Unreachable(f"cannot reach the Kairos API at {self.conn.url}: {reason}")

    async def get(self, path: str, **params: Any) -> Any:
        return (await self.request("GET", path, params=params)).json()

    async def post(
        self, path: str, body: Any = None, *, headers: Mapping[str, str] | None = None
    ) -> tuple[int, Any]:
        response = await self.request("POST", path, body=body, headers=headers)
        return response.status_code, response.json()

    async def delete(self, path: str) -> None:
        await self.request("DELETE", path)

    async def pages(
        self, path: str, *, limit: int | None = None, **params: Any
    ) -> AsyncGenerator[tuple[list[dict[str, Any]], str | None], None]:
        """Each page of a list (``{"items", "next_cursor"}``) until the last one, or
        until ``limit`` items were given; with each page the cursor after it."""
        cursor: str | None = None
        given = 0
        while True:
            size = PAGE if limit is None else max(1, min(PAGE, limit - given))
            page = await self.get(path, limit=size, cursor=cursor, **params)
            items: list[dict[str, Any]] = list(page.get("items", []))
            cursor = page.get("next_cursor")
            if limit is not None:
                items = items[: limit - given]
            given += len(items)
            yield items, cursor
            if cursor is None or (limit is not None and given >= limit):
                return

    async def items(
        self, path: str, *, limit: int | None = None, **params: Any
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Every item of a list (or the first ``limit``), and the cursor after them."""
        found: list[dict[str, Any]] = []
        after: str | None = None
        async for page, cursor in self.pages(path, limit=limit, **params):
            found.extend(page)
            after = cursor
        return found, after

    # -- what this server offers (its OpenAPI document) ---------------------------------

    async def openapi(self) -> dict[str, Any]:
        if self._openapi is None:
            self._openapi = await self.get("/openapi.json")
        return self._openapi

    async def query_parameters(self, method: str, path: str) -> set[str]:
        """The query parameters the server's ``method path`` takes."""
        operation = (await self.openapi()).get("paths", {}).get(path, {}).get(method.lower(), {})
        return {
            p.get("name", "")
            for p in operation.get("parameters", [])
            if isinstance(p, dict) and p.get("in") == "query"
        }

    async def body_fields(self, method: str, path: str) -> set[str]:
        """The JSON body fields the server's ``method path`` takes (none: no body)."""
        document = await self.openapi()
        operation = document.get("paths", {}).get(path, {}).get(method.lower(), {})
        content = operation.get("requestBody", {}).get("content", {})
        schema = content.get("application/json", {}).get("schema", {})
        return set(_properties(document, schema))


def _properties(document: Mapping[str, Any], schema: Any, depth: int = 0) -> dict[str, Any]:
    """The properties of an OpenAPI schema, through ``$ref`` and ``anyOf``/``oneOf``/``allOf``."""
    if not isinstance(schema, Mapping) or depth > 8:
        return {}
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = document
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, Mapping) else {}
        return _properties(document, target, depth + 1)
    found: dict[str, Any] = dict(schema.get("properties", {}))
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            found.update(_properties(document, option, depth + 1))
    return found


def is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True

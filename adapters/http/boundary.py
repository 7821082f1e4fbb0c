"""The API's outer boundary: what no route ever sees. Before authentication, routing
or a database call, a request is refused with the error envelope when

- a header is longer than ``MAX_HEADER_BYTES`` (431),
- its body is larger than ``MAX_BODY_BYTES`` (413),
- its path or a query parameter holds a NUL or an undecodable byte (422 naming it),
- its JSON body holds a NUL or a lone surrogate in any key or string, nests deeper
  than ``bounds.MAX_DEPTH``, or has a key longer than ``bounds.MAX_KEY`` (422 naming
  the path of the first offence, e.g. ``payload.a[2]``).

These are the text rules of ``domain.bounds`` applied once to the whole request, so
every route and every field gets them; per-field ranges and lengths are the domain
parsers' (shared with ``kairos apply``). A pure ASGI middleware: the body it read is
replayed to the app unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import orjson

from adapters.envelope import error_body
from domain import bounds
from domain.errors import InvalidRequest

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_HEADER_BYTES = 8 * 1024
# An iCalendar import of 1,000,000 characters is the largest document Kairos accepts.
MAX_BODY_BYTES = 2 * 1024 * 1024
# uvicorn's own limit on a request head, above ours so that ours answers the envelope.
MAX_HEAD_BYTES = 4 * 1024 * 1024


class Boundary:
    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = _head(scope)
        if refusal is not None:
            await _answer(send, *refusal)
            return
        if scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        body, more, refusal = await _read(scope, receive)
        if refusal is None and body:
            refusal = _json(body)
        if refusal is not None:
            await _answer(send, *refusal)
            return
        await self.app(scope, _replay(body, more, receive), send)


def _head(scope: Scope) -> tuple[int, str, str] | None:
    for name, value in scope.get("headers", ()):
        if len(value) > MAX_HEADER_BYTES:
            header = name.decode("latin-1")
            return 431, header, f"the {header} header is longer than {MAX_HEADER_BYTES} bytes"
    path = scope.get("path", "")
    if "\x00" in path or bounds.unstorable(path) is not None:
        return 422, "path", "the path holds a NUL or an undecodable character"
    try:
        query = scope.get("query_string", b"").decode("ascii")
        pairs = parse_qsl(query, keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        return 422, "query", "the query string is not valid UTF-8"
    for key, value in pairs:
        for text in (key, value):
            bad = bounds.unstorable(text)
            if bad is not None:
                return 422, key if text is value else "query", f"query parameter contains {bad}"
    return None


async def _read(scope: Scope, receive: Receive) -> tuple[bytes, bool, tuple[int, str, str] | None]:
    """The body, whether the client has more to send, and a refusal if it is too big."""
    too_big = 413, "body", f"the body is larger than {MAX_BODY_BYTES} bytes"
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                if int(value) > MAX_BODY_BYTES:
                    return b"", False, too_big
            except ValueError:
                return b"", False, (400, "Content-Length", "Content-Length is not a number")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False, None  # disconnected: the app sees it too
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return b"", False, too_big
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), False, None


def _json(body: bytes) -> tuple[int, str, str] | None:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        # orjson refuses lone surrogates; the standard parser (the one the routes use)
        # takes them, so find where they are. Not JSON at all: the routes answer 400.
        try:
            doc = json.loads(body)
        except (ValueError, RecursionError):
            return None
    try:
        bounds.document(doc, "")
    except InvalidRequest as exc:
        return 422, str(exc.details.get("field") or "body"), exc.message
    return None


def _replay(body: bytes, more: bool, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": more}
        return await receive()

    return replay


async def _answer(send: Send, status: int, field: str, message: str) -> None:
    payload = orjson.dumps(error_body("INVALID_REQUEST", message, {"field": field}))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})

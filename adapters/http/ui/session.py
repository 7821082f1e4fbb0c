"""The dashboard's session: the bearer token a person signed in with, kept in a cookie.

- ``kairos_ui`` holds the token itself: HttpOnly (no script reads it), SameSite=Strict
  (no other site's page sends it), Secure when served over https, Path=/ui (the API's
  own routes never see it). Every request verifies it again with the API's own
  ``Authenticator``, so expiry, keys, scopes and tenant are exactly the API's.
- ``SessionBearer`` (ASGI, outermost) turns that cookie into ``Authorization: Bearer``
  for ``/ui`` requests that carry none, before the audit middleware runs: a change
  made in the dashboard is in the audit trail with the token's subject, like one made
  through the API.
- CSRF: every form that changes something carries ``csrf``, an HMAC of a fixed label
  keyed with the session's token. A page of another site can neither read the cookie
  nor compute the value, and nothing is stored server-side (any replica checks it).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import CookieError, SimpleCookie
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

COOKIE = "kairos_ui"
PREFIX = "/ui"
_LABEL = b"kairos-ui-csrf-v1"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


def csrf_token(session: str) -> str:
    return hmac.new(session.encode(), _LABEL, hashlib.sha256).hexdigest()


def csrf_ok(session: str | None, sent: object) -> bool:
    if not session or not isinstance(sent, str) or not sent:
        return False
    return hmac.compare_digest(csrf_token(session), sent)


def bearer_of(request: Request) -> str | None:
    """The token this request is authenticated with (the cookie's, or a header's)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def set_session(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_session(response: Response, request: Request) -> None:
    response.delete_cookie(
        COOKIE,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


class SessionBearer:
    """For ``/ui`` requests only: the session cookie as the bearer token."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _under_ui(scope.get("path", "")):
            headers = list(scope.get("headers", ()))
            if not any(name == b"authorization" for name, _ in headers):
                token = _cookie(headers)
                if token:
                    headers.append((b"authorization", b"Bearer " + token.encode("latin-1")))
                    scope = {**scope, "headers": headers}
        await self.app(scope, receive, send)


def _under_ui(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def _cookie(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name != b"cookie":
            continue
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(value.decode("latin-1"))
        except CookieError:  # a malformed Cookie header: no session
            return None
        morsel = jar.get(COOKIE)
        if morsel is not None and morsel.value and morsel.value.isascii():
            return morsel.value
    return None

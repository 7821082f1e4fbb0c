"""The error envelope (docs/engine.md, *API and documents*) for every error the API
answers.

``{"error": {"code", "message", "details", "timestamp"}}`` with a stable code; domain
errors map by code, request validation answers 422 with field paths, a malformed body
400, an unknown route 404, and a lost database or NATS connection 503 ``UNAVAILABLE``.
Nothing answers a bare 500 with a traceback: an unexpected error is logged with an
error id and answered as 500 ``INTERNAL`` carrying only that id.
"""

from __future__ import annotations

import logging
import math
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from adapters.envelope import error_body, jsonable
from domain.errors import DomainError, RateLimited

log = logging.getLogger("kairos.api")

STATUS = {
    "INVALID_SCHEDULE": 422,
    "INVALID_REQUEST": 422,
    "NOT_FOUND": 404,
    "CONFLICT": 409,
    "LEASE_LOST": 409,
    "EXECUTION_FAILED": 502,
    "UNAUTHORIZED": 401,
    "FORBIDDEN": 403,
    "RATE_LIMITED": 429,
    "UNAVAILABLE": 503,
}
_HTTP_CODES = {400: "INVALID_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND"}


def envelope(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status)


def domain_answer(exc: DomainError) -> JSONResponse:
    """A domain error as the envelope, with its status and headers."""
    answer = envelope(STATUS.get(exc.code, 422), exc.code, exc.message, jsonable(exc.details))
    if exc.code == "UNAUTHORIZED":
        answer.headers["WWW-Authenticate"] = 'Bearer realm="kairos"'
    if isinstance(exc, RateLimited):
        answer.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    return answer


def validation_answer(exc: RequestValidationError, content_type: str = "") -> JSONResponse:
    """A request the models refused: 400 for JSON that does not parse, 415 for a body
    not sent as JSON (no ``Content-Type: application/json``: it is read as bytes), else
    422 naming the first field (``errors`` lists them all)."""
    if not _is_json(content_type) and any(
        tuple(e.get("loc", ())) == ("body",) for e in exc.errors()
    ):
        sent = content_type or "none"
        return envelope(
            415,
            "INVALID_REQUEST",
            f"the body must be JSON sent with Content-Type: application/json (got {sent})",
            {"field": "Content-Type"},
        )
    errors = [
        {
            "field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"),
            "message": e.get("msg", ""),
            "type": e.get("type", ""),
        }
        for e in exc.errors()
    ]
    if any(e["type"] == "json_invalid" for e in errors):
        return envelope(400, "INVALID_REQUEST", "the body is not valid JSON", {"errors": errors})
    first = errors[0] if errors else {"field": "", "message": "invalid request"}
    message = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
    # ``field`` as domain errors name it (the first); ``errors`` lists them all.
    details = {"field": first["field"] or "body", "errors": errors}
    return envelope(422, "INVALID_REQUEST", message, details)


def _is_json(content_type: str) -> bool:
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (
        kind.startswith("application/") and kind.endswith("+json")
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        return domain_answer(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_answer(exc, request.headers.get("content-type", ""))

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "INVALID_REQUEST")
        return envelope(exc.status_code, code, str(exc.detail))

    @app.exception_handler(ConnectionError)
    @app.exception_handler(OSError)
    async def unavailable(_: Request, exc: Exception) -> JSONResponse:
        log.warning("dependency unavailable: %s", exc)
        return envelope(503, "UNAVAILABLE", "a backing service is unavailable; retry shortly")

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        error_id = str(uuid.uuid4())
        log.exception("unexpected error %s", error_id, exc_info=exc)
        return envelope(500, "INTERNAL", "unexpected error", {"error_id": error_id})

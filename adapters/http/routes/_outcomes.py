"""An external worker's outcome of a run (``/runs/{id}/complete``, ``/fail`` and the
batch ``/workers/{id}/report``): its lease token, error, retry delay and detail."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from domain.errors import InvalidRequest
from domain.ids import RunId
from service.usecases import runs


def bounded(value: Any, field: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise InvalidRequest(f"{field} must be a number in {low:g}..{high:g}", field=field)
    return float(value)


def seconds(value: Any, field: str) -> timedelta | None:
    if value is None:
        return None
    return timedelta(seconds=bounded(value, field, 0, 86_400))


def batch_outcome(item: Any, i: int) -> runs.Outcome:
    if not isinstance(item, dict):
        raise InvalidRequest(f"outcomes[{i}] must be an object", field=f"outcomes[{i}]")
    body = {k: v for k, v in item.items() if k != "run_id"}
    try:
        token, detail = outcome(body, {"token", "error", "retry_after", "detail"})
        run_id = uuid.UUID(str(item.get("run_id")))
    except InvalidRequest as exc:
        where = f"outcomes[{i}].{exc.details.get('field', '')}"
        raise InvalidRequest(f"{where}: {exc.message}", field=where) from None
    except ValueError:
        where = f"outcomes[{i}].run_id"
        raise InvalidRequest(f"{where} must be a UUID", field=where) from None
    error = body.get("error")
    if error is not None and (not isinstance(error, str) or not error.strip()):
        where = f"outcomes[{i}].error"
        raise InvalidRequest(f"{where} must be a message", field=where)
    return runs.Outcome(
        run_id=RunId(run_id),
        token=token,
        error=None if error is None else error[:2000],
        retry_after=seconds(body.get("retry_after"), f"outcomes[{i}].retry_after"),
        detail=detail,
    )


def outcome(body: dict[str, Any], allowed: set[str]) -> tuple[str, dict[str, Any] | None]:
    unknown = set(body) - allowed
    if unknown:
        raise InvalidRequest(f"unknown field {sorted(unknown)[0]!r}", field=sorted(unknown)[0])
    token = body.get("token")
    if not isinstance(token, str) or not token:
        raise InvalidRequest("token (the run's lease token) is required", field="token")
    detail = body.get("detail")
    if detail is not None and (not isinstance(detail, dict) or len(json.dumps(detail)) > 4096):
        raise InvalidRequest("detail must be an object of at most 4 KiB", field="detail")
    return token, detail

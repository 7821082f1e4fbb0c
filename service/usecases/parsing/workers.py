"""The external worker protocol's documents: a registration as ``RegisterWorker``, a
heartbeat's held runs and lease, an outcome as ``ReportRun``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import timedelta

from domain import bounds
from domain.errors import InvalidRequest
from domain.ids import RunId, TenantId
from domain.worker import DEFAULT_HEARTBEAT
from service.usecases.commands import (
    RegisterWorker,
    ReportRun,
)
from service.usecases.parsing.fields import (
    Doc,
    integer,
    refuse_unknown,
    require,
    setting,
    uuid_of,
)

# -- the external worker protocol -------------------------------------------------------------

WORKER_FIELDS = frozenset(
    {"name", "capabilities", "capacity", "version", "labels", "heartbeat_interval"}
)
MIN_LEASE, MAX_LEASE = timedelta(seconds=5), timedelta(minutes=10)
MAX_HELD = 10_000
MAX_DETAIL = 4096


def register_worker(doc: Doc, *, tenant_id: TenantId) -> RegisterWorker:
    """``POST /workers/register``: what the worker says of itself."""
    refuse_unknown(doc, WORKER_FIELDS)
    require(doc, "name", "capabilities")
    caps = doc["capabilities"]
    if not isinstance(caps, list) or len(caps) > bounds.MAX_CAPABILITIES:
        raise InvalidRequest(
            "capabilities must be a list of job types or target kinds", field="capabilities"
        )
    capabilities = [
        bounds.text(cap, f"capabilities[{i}]", maximum=bounds.MAX_CAPABILITY)
        for i, cap in enumerate(caps)
    ]
    if "SYSTEM" in capabilities:
        raise InvalidRequest("capability SYSTEM is reserved for Kairos", field="capabilities")
    labels = doc.get("labels", {})
    if not isinstance(labels, Mapping) or len(labels) > bounds.MAX_LABELS:
        raise InvalidRequest(
            f"labels must be an object of at most {bounds.MAX_LABELS} strings", field="labels"
        )
    checked = {
        bounds.text(key, "labels", maximum=bounds.MAX_KEY): bounds.text(
            value, f"labels.{key}", maximum=bounds.MAX_LABEL_VALUE, empty=True
        )
        for key, value in labels.items()
    }
    worker_name = bounds.text(doc["name"], "name", maximum=bounds.MAX_NAME)
    version = bounds.text(doc.get("version", ""), "version", maximum=bounds.MAX_VERSION, empty=True)
    capacity = 1
    if "capacity" in doc:
        capacity = integer(doc["capacity"], "capacity", minimum=1, maximum=bounds.MAX_CAPACITY)
    interval = DEFAULT_HEARTBEAT
    if "heartbeat_interval" in doc:
        interval = setting(doc["heartbeat_interval"], "heartbeat_interval")
        if not timedelta(seconds=1) <= interval <= timedelta(minutes=5):
            raise InvalidRequest("heartbeat_interval must be 1s..5m", field="heartbeat_interval")
    return RegisterWorker(
        tenant_id=tenant_id,
        name=worker_name,
        capabilities=frozenset(capabilities),
        capacity=capacity,
        version=version,
        labels=checked,
        heartbeat_interval=interval,
    )


def lease(doc: Doc, default: timedelta) -> timedelta:
    if doc.get("lease") is None:
        return default
    found = setting(doc["lease"], "lease")
    if not MIN_LEASE <= found <= MAX_LEASE:
        raise InvalidRequest("lease must be 5s..10m", field="lease")
    return found


def held_runs(doc: Doc) -> dict[RunId, str]:
    """A heartbeat's ``held``: run id -> lease token."""
    held = doc.get("held", {})
    if not isinstance(held, Mapping) or len(held) > MAX_HELD:
        raise InvalidRequest("held must map run ids to lease tokens", field="held")
    out = {}
    for key, token in held.items():
        if not isinstance(token, str) or not 0 < len(token) <= 64:
            raise InvalidRequest(f"held[{key}]: the lease token is a string", field="held")
        out[RunId(uuid_of(key, f"held[{key}]"))] = token
    return out


def bounded(value: object, field: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise InvalidRequest(f"{field} must be a number in {low:g}..{high:g}", field=field)
    return float(value)


def _seconds(value: object, field: str) -> timedelta | None:
    if value is None:
        return None
    return timedelta(seconds=bounded(value, field, 0, 86_400))


def _token_and_detail(doc: Doc, allowed: frozenset[str]) -> tuple[str, dict[str, object] | None]:
    unknown = sorted(set(doc) - allowed)
    if unknown:
        raise InvalidRequest(f"unknown field {unknown[0]!r}", field=unknown[0])
    token = doc.get("token")
    if not isinstance(token, str) or not token:
        raise InvalidRequest("token (the run's lease token) is required", field="token")
    detail = doc.get("detail")
    if detail is None:
        return token, None
    if not isinstance(detail, Mapping) or len(json.dumps(detail)) > MAX_DETAIL:
        raise InvalidRequest("detail must be an object of at most 4 KiB", field="detail")
    return token, {str(k): v for k, v in detail.items()}


_OUTCOME = frozenset({"token", "error", "retry_after", "detail"})


def report_run(doc: Doc, *, run_id: RunId, failed: bool) -> ReportRun:
    """``POST /runs/{id}/complete`` (``failed`` False) or ``/fail``."""
    if not failed:
        token, detail = _token_and_detail(doc, frozenset({"token", "detail"}))
        return ReportRun(run_id=run_id, token=token, detail=detail)
    token, detail = _token_and_detail(doc, _OUTCOME)
    error = doc.get("error")
    if not isinstance(error, str) or not error.strip():
        raise InvalidRequest("error (a message) is required", field="error")
    return ReportRun(
        run_id=run_id,
        token=token,
        error=error[: bounds.MAX_ERROR],
        retry_after=_seconds(doc.get("retry_after"), "retry_after"),
        detail=detail,
    )


def batch_outcome(item: object, i: int) -> ReportRun:
    """One outcome of ``POST /workers/{id}/report``; errors name ``outcomes[i].field``."""
    if not isinstance(item, Mapping):
        raise InvalidRequest(f"outcomes[{i}] must be an object", field=f"outcomes[{i}]")
    body = {str(k): v for k, v in item.items() if k != "run_id"}
    try:
        token, detail = _token_and_detail(body, _OUTCOME)
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
    return ReportRun(
        run_id=RunId(run_id),
        token=token,
        error=None if error is None else error[: bounds.MAX_ERROR],
        retry_after=_seconds(body.get("retry_after"), f"outcomes[{i}].retry_after"),
        detail=detail,
    )

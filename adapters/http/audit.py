"""The audit trail of the API (SEMANTICS 13): every mutating call that got past
authentication is recorded with its actor (the token's ``sub``), tenant, method, path,
answer status, and the resource it addressed as it was before and after the call.

Not recorded: the external worker protocol (``/workers/...``, ``/runs/{id}/complete``
and ``/fail``), whose heartbeats and claims would drown the trail; its effects are in
the runs and their events. The entry is written after the call, in its own transaction:
a crash in between loses the entry, never the change.

Denied calls (401, 403, 429 after a token verified) are audited in a bounded way: the
first denial of an actor in a minute is written, the rest of that minute are counted,
and the next written denial carries that count (``after: {"denied_since_last": N}``).
A caller hammering with a low scope writes one row a minute, not one per call. Every
authenticated call also spends a rate-limit token before anything is read.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request, Response
from pydantic import BaseModel

from adapters.http import models as m
from adapters.http.errors import domain_answer
from adapters.http.ratelimit import admit
from domain.audit import AuditEntry, redact
from domain.errors import DomainError
from domain.ids import CalendarId, JobId, RunId, ScheduleId, TenantId
from domain.ports import Database
from service.usecases import calendars, jobs, runs, schedules

log = logging.getLogger("kairos.audit")

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
Reader = Callable[[Database, TenantId, uuid.UUID], Awaitable[Mapping[str, Any]]]


def _shown(model: BaseModel) -> Mapping[str, Any]:
    shown: dict[str, Any] = model.model_dump(mode="json", exclude_unset=True, by_alias=True)
    return shown


async def _job(db: Database, t: TenantId, i: uuid.UUID) -> Mapping[str, Any]:
    return _shown(m.Job.from_domain(await jobs.get_job(db, tenant_id=t, job_id=JobId(i))))


async def _schedule(db: Database, t: TenantId, i: uuid.UUID) -> Mapping[str, Any]:
    return _shown(
        m.Schedule.from_domain(
            await schedules.get_schedule(db, tenant_id=t, schedule_id=ScheduleId(i))
        )
    )


async def _calendar(db: Database, t: TenantId, i: uuid.UUID) -> Mapping[str, Any]:
    return _shown(
        m.Calendar.from_domain(
            await calendars.get_calendar(db, tenant_id=t, calendar_id=CalendarId(i))
        )
    )


async def _run(db: Database, t: TenantId, i: uuid.UUID) -> Mapping[str, Any]:
    return _shown(m.Run.from_domain(await runs.get_run(db, tenant_id=t, run_id=RunId(i))))


READERS: dict[str, Reader] = {
    "jobs": _job,
    "schedules": _schedule,
    "calendars": _calendar,
    "runs": _run,
}


def audited(method: str, path: str) -> bool:
    parts = path.strip("/").split("/")
    if method not in MUTATING or not parts or parts[0] in ("workers", "health", "metrics"):
        return False
    return not (parts[0] == "runs" and parts[-1] in ("complete", "fail"))


def _resource(path: str) -> tuple[Reader, uuid.UUID] | None:
    parts = path.strip("/").split("/")
    if len(parts) < 2 or parts[0] not in READERS:
        return None
    try:
        return READERS[parts[0]], uuid.UUID(parts[1])
    except ValueError:
        return None


async def _read(db: Database, tenant: TenantId, target: tuple[Reader, uuid.UUID] | None) -> Any:
    if target is None:
        return None
    try:
        return redact(dict(await target[0](db, tenant, target[1])))
    except DomainError:
        return None  # not there (yet, or any more)


DENIED = frozenset({401, 403, 429})


class DeniedSampler:
    """Which denied calls to write: one per (tenant, actor) per ``window`` seconds; the
    ones in between are counted and reported with the next one written."""

    def __init__(
        self,
        window: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        self.window = window
        self._clock = clock
        self._max = max_keys
        self._seen: OrderedDict[tuple[str, str], tuple[float, int]] = OrderedDict()

    def admit(self, tenant: str, actor: str) -> int | None:
        """None: count this one, write nothing. Else write it, with the number of
        denials left unwritten since the last one written."""
        now = self._clock()
        key = (tenant, actor)
        since, suppressed = self._seen.pop(key, (now - self.window, 0))
        if now - since < self.window:
            self._seen[key] = (since, suppressed + 1)
            return None
        self._seen[key] = (now, 0)
        if len(self._seen) > self._max:
            self._seen.popitem(last=False)
        return suppressed


def _storable(text: str) -> str:
    """A path as the audit column can hold it (the boundary refuses NUL; this is the
    last line, so an entry is never lost to its own text)."""
    text = text.replace("\x00", "\\u0000")
    return text.encode("utf-8", "backslashreplace").decode("utf-8")[:2000]


def install(app: FastAPI, db: Database, sampler: DeniedSampler | None = None) -> None:
    denied = sampler or DeniedSampler()

    @app.middleware("http")
    async def audit(request: Request, call_next: Callable[..., Awaitable[Any]]) -> Any:
        if not audited(request.method, request.url.path):
            return await call_next(request)
        try:
            principal = await request.app.state.context.authenticate(request)
        except DomainError:
            return await call_next(request)  # refused by the route: nothing happened
        request.state.principal = principal  # the route does not verify it again
        try:
            admit(request, principal)
        except DomainError as exc:
            answer = domain_answer(exc)
            await _denied(db, denied, principal, request, answer.status_code)
            return answer
        target = _resource(request.url.path)
        before = await _read(db, principal.tenant_id, target)
        response = await call_next(request)
        if response.status_code in DENIED:
            await _denied(db, denied, principal, request, response.status_code)
            return response
        body = b"".join([chunk async for chunk in response.body_iterator])
        after: Any = await _read(db, principal.tenant_id, target)
        if (
            after is None
            and target is None
            and response.headers.get("content-type", "").startswith("application/json")
        ):
            try:
                after = redact(json.loads(body))  # a create: the answer is the new resource
            except ValueError:
                after = None
        after = after if isinstance(after, dict) else None
        await _write(db, principal, request, response.status_code, before=before, after=after)
        return Response(
            content=body,
            status_code=response.status_code,
            headers=dict(response.headers),
            media_type=response.media_type,
        )


async def _denied(
    db: Database, sampler: DeniedSampler, principal: Any, request: Request, status: int
) -> None:
    suppressed = sampler.admit(principal.tenant_id, principal.subject or "unknown")
    if suppressed is not None:
        denied = {"denied_since_last": suppressed}
        await _write(db, principal, request, status, before=None, after=denied)


async def _write(
    db: Database,
    principal: Any,
    request: Request,
    status: int,
    *,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
) -> None:
    """One entry, in its own transaction; a database that is down loses the entry (and
    says so in the log), never the answer."""
    try:
        async with db.transaction(principal.tenant_id) as tx:
            await tx.audit.add(
                AuditEntry(
                    tenant_id=principal.tenant_id,
                    id=uuid.uuid4(),
                    at=await tx.now(),
                    actor=principal.subject or "unknown",
                    method=request.method,
                    path=_storable(request.url.path),
                    status=status,
                    before=before,
                    after=after,
                )
            )
    except (OSError, ConnectionError) as exc:
        log.error("audit entry for %s %s not written: %s", request.method, request.url, exc)

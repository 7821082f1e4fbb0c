"""The audit trail of the API (docs/engine.md, *Health, metrics, logs, audit*): every
mutating call that got past authentication is recorded with its actor (the token's
``sub``), tenant, method, path, answer status, and the resource it addressed as it was
before and after the call.

A route that changes something says so in its signature (``audit: Audit``) and hands
its recorder the resource as it has it: ``audit.before(...)`` with the object it read,
``audit.after(...)`` with the object the use case answered (a create has no before; a
delete no after). The entry is written when the route returns, in its own transaction
(a crash in between loses the entry, never the change). A call that fails is recorded
with its error status; nothing changed, so its after is its before (a failed create
records the error it answered).

Not recorded: reads and the external worker protocol (``/workers/...``,
``/runs/{id}/complete`` and ``/fail``), whose heartbeats and claims would drown the
trail; its effects are in the runs and their events.

Denied calls (403, 429 after a token verified) are audited in a bounded way: the first
denial of an actor in a minute is written, the rest of that minute are counted, and the
next written denial carries that count (``after: {"denied_since_last": N}``). A caller
hammering with a low scope writes one row a minute, not one per call.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel

from adapters.envelope import error_body, jsonable
from adapters.http.errors import STATUS, validation_answer
from domain.access import Principal
from domain.audit import AuditEntry, redact
from domain.errors import DomainError
from domain.ports import Database

log = logging.getLogger("kairos.audit")

DENIED = frozenset({401, 403, 429})
Shown = Mapping[str, object]


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


def shown(model: BaseModel) -> Shown:
    """A resource as its answer shows it, secrets redacted."""
    document: dict[str, object] = redact(
        model.model_dump(mode="json", exclude_unset=True, by_alias=True)
    )
    return document


class Recorder:
    """One mutating call's audit entry, filled by its route."""

    def __init__(self) -> None:
        self.seen: Shown | None = None
        self.made: Shown | None = None

    def before(self, resource: BaseModel) -> None:
        """The resource the call addresses, as it was."""
        self.seen = shown(resource)

    def after(self, resource: BaseModel) -> None:
        """The resource as the call left it (a create: the new one)."""
        self.made = shown(resource)


async def recorder(request: Request, response: Response) -> AsyncIterator[Recorder]:
    """The route's recorder; the entry is written when the route has answered (or
    failed). Declared after the route's scope, so the caller is known by then."""
    change = Recorder()
    try:
        yield change
    except RequestValidationError as exc:
        answer = validation_answer(exc, request.headers.get("content-type", ""))
        refused: Shown | None = None
        if _creates(request):
            refused = redact(json.loads(bytes(answer.body)))
        await write(request, answer.status_code, before=change.seen, after=refused)
        raise
    except DomainError as exc:
        status = STATUS.get(exc.code, 422)
        if status in DENIED:
            await denied(request, status)
        else:
            failed = change.seen
            if failed is None and _creates(request):
                failed = redact(error_body(exc.code, exc.message, jsonable(exc.details)))
            await write(request, status, before=change.seen, after=failed)
        raise
    route = request.scope.get("route")
    status = response.status_code or getattr(route, "status_code", None) or 200
    await write(request, status, before=change.seen, after=change.made)


# A route that changes something declares it: ``audit: Audit``.
Audit = Annotated[Recorder, Depends(recorder, scope="function")]


def _creates(request: Request) -> bool:
    route = request.scope.get("route")
    return isinstance(route, APIRoute) and "{" not in route.path


def audited(route: object) -> bool:
    """Whether a route declares ``Audit``."""
    if not isinstance(route, APIRoute):
        return False
    return any(d.call is recorder for d in route.dependant.dependencies)


async def denied(request: Request, status: int) -> None:
    """A denied call to an audited route: written if the sampler says so."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        return  # refused before anyone was known: nothing to attribute
    sampler: DeniedSampler = request.app.state.denied
    suppressed = sampler.admit(principal.tenant_id, principal.subject or "unknown")
    if suppressed is not None:
        await write(request, status, before=None, after={"denied_since_last": suppressed})


def _storable(text: str) -> str:
    """A path as the audit column can hold it (the boundary refuses NUL; this is the
    last line, so an entry is never lost to its own text)."""
    text = text.replace("\x00", "\\u0000")
    return text.encode("utf-8", "backslashreplace").decode("utf-8")[:2000]


async def write(
    request: Request, status: int, *, before: Shown | None, after: Shown | None
) -> None:
    """One entry, in its own transaction; a database that is down loses the entry (and
    says so in the log), never the answer."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        return  # nobody was admitted: nothing to attribute
    db: Database = request.app.state.context.db
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

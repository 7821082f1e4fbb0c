"""The dashboard's live feed.

``GET /ui/events`` is a server-sent-event stream. It polls the tenant's most
recent runs about every second (one indexed query in the tenant's own transaction) and
sends each run that is new or whose status, attempt or update time changed, with its
table row rendered by the same template as the page. Polling the database keeps the
feed correct on any replica with nothing but the API's own connection, and sees
exactly what the pages read (row-level security included); the domain events on NATS
would need a connection and a per-tenant filter in the API process for the same rows.
A stream ends after ``STREAM_SECONDS`` (a stopping server waits for open responses);
the browser reconnects and sends back the id of the last stream, an instant just
before the newest change it saw, so the next stream replays from there.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import datetime

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from adapters.http.ui import session, views
from adapters.http.ui.access import FEED_OVERLAP, Ui, _local, _principal
from adapters.http.ui.reads import _names, _statuses, _uuid, _with_attempts
from domain.access import Scope
from domain.errors import DomainError, InvalidRequest
from domain.ids import RunId, ScheduleId
from domain.ports import RunFilter
from service.usecases import runs

FEED_RUNS = 50  # the live feed watches this many most recent runs
POLL = 1.0  # seconds between the live feed's reads
STREAM_SECONDS = 10.0  # a live stream's length; the browser reconnects at once
RECONNECT_MS = 500
REVERIFY = 30.0  # seconds between the live feed's checks that its token still verifies


def routes(dashboard: FastAPI, ui: Ui) -> None:
    db = ui.db

    # -- live -----------------------------------------------------------------------------

    @dashboard.get("/events")
    async def events(request: Request) -> StreamingResponse:
        principal = await _principal(ui, request, Scope.READ)
        params = request.query_params
        schedule = _uuid(params.get("schedule"), "schedule")
        where = RunFilter(
            schedule_id=ScheduleId(schedule) if schedule else None,
            statuses=_statuses(params.get("status")),
        )
        # Changes after ``since`` (the page's render time, or the last event id a
        # reconnecting EventSource sends back) are sent on the first read too, so a
        # change between the page's read and the feed's first one is not lost.
        since = _since(request.headers.get("last-event-id") or params.get("since"))
        row = ui.templates.get_template("_rows.html").module.run_row  # type: ignore[attr-defined]
        token = session.bearer_of(request) or ""
        csrf = session.csrf_token(token) if token else ""
        can_operate = principal.allows(Scope.OPERATE)
        tenant = principal.tenant_id
        with_names = params.get("names") == "1"
        back = _local(params.get("back"))
        names: dict[ScheduleId, str] = {}

        async def stream() -> AsyncIterator[str]:
            seen: dict[RunId, tuple[str, int, str]] | None = None
            verified = opened = time.monotonic()
            newest = since
            yield f"retry: {RECONNECT_MS}\n\n"
            while not await request.is_disconnected():
                if time.monotonic() - opened > STREAM_SECONDS:
                    # End the stream (a server that stops waits for open responses):
                    # the browser reconnects at once, sending this id back as its
                    # starting point, so nothing between the two streams is missed.
                    if newest is not None:
                        yield f"id: {(newest - FEED_OVERLAP).isoformat()}\n\n"
                    return
                if time.monotonic() - verified > REVERIFY:
                    try:
                        await ui.authenticate(request)
                    except DomainError:
                        yield "event: signedout\ndata: {}\n\n"
                        return
                    verified = time.monotonic()
                found = await runs.list_runs(
                    db, tenant_id=principal.tenant_id, where=where, after=None, limit=FEED_RUNS
                )
                current = {r.id: views.run_fingerprint(r) for r in found}
                for run in found:
                    if newest is None or run.updated_at > newest:
                        newest = run.updated_at
                if seen is not None or since is not None:
                    for run in reversed(found):  # oldest first: new rows stack on top
                        if seen is None:
                            if since is not None and run.updated_at < since:
                                continue
                        elif seen.get(run.id) == current[run.id]:
                            continue
                        full = await _with_attempts(ui, principal.tenant_id, [run])
                        view = views.run_view(full[0])
                        if with_names and run.schedule_id not in names:
                            names.update(await _names(ui, tenant, {run.schedule_id}))
                        data = {
                            "id": str(run.id),
                            "schedule_id": str(run.schedule_id),
                            "status": run.status.value,
                            "words": view.status_words,
                            "html": str(
                                row(
                                    view,
                                    csrf=csrf,
                                    can_operate=can_operate,
                                    names=names,
                                    back=back,
                                    show_schedule=with_names,
                                )
                            ),
                        }
                        yield f"event: run\ndata: {json.dumps(data)}\n\n"
                if seen is None:
                    yield "event: ready\ndata: {}\n\n"
                seen = current
                await asyncio.sleep(POLL)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )


def _since(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequest("since must be an instant", field="since") from None
    if value.tzinfo is None:
        raise InvalidRequest("since must carry a UTC offset", field="since")
    return value

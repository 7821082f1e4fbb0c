"""The reads and query parsing several dashboard pages share."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from adapters.http.ui.access import Ui
from domain.calendar import BusinessCalendar, Calendar
from domain.durations import parse_instant
from domain.errors import InvalidRequest, NotFound
from domain.ids import CalendarId, ScheduleId, TenantId
from domain.ports import Keyset
from domain.run import Run, RunStatus
from domain.schedule import Schedule
from service.usecases import calendars, runs, schedules

PAGE = 50
BATCH = 500  # rows per read when a page needs every schedule


async def _every_schedule(ui: Ui, tenant: TenantId) -> list[Schedule]:
    found: list[Schedule] = []
    after: Keyset | None = None
    while True:
        batch = await schedules.list_schedules(ui.db, tenant_id=tenant, after=after, limit=BATCH)
        found.extend(batch)
        if len(batch) < BATCH:
            return found
        after = (batch[-1].created_at, batch[-1].id)


async def _names(ui: Ui, tenant: TenantId, ids: set[ScheduleId]) -> dict[ScheduleId, str]:
    """The names of these schedules (a deleted one has none)."""

    async def name(schedule_id: ScheduleId) -> tuple[ScheduleId, str | None]:
        try:
            found = await schedules.get_schedule(ui.db, tenant_id=tenant, schedule_id=schedule_id)
        except NotFound:
            return schedule_id, None
        return schedule_id, found.name

    named = await asyncio.gather(*(name(i) for i in ids))
    return {i: n for i, n in named if n is not None}


async def _with_attempts(ui: Ui, tenant: TenantId, found: Sequence[Run]) -> list[Run]:
    """The runs with their attempts (a list reads runs without them), for lateness,
    durations and errors."""
    return list(
        await asyncio.gather(*(runs.get_run(ui.db, tenant_id=tenant, run_id=r.id) for r in found))
    )


def _instant(text: str | None, field: str) -> datetime | None:
    """An instant from a form or query: ISO with offset, or a browser's
    ``datetime-local`` value read as UTC."""
    if not text:
        return None
    return parse_instant(text, field=field, tz=UTC)


def _uuid(text: str | None, field: str) -> uuid.UUID | None:
    if not text:
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        raise InvalidRequest(f"{field} must be an id (a UUID)", field=field) from None


def _statuses(text: str | None) -> frozenset[RunStatus]:
    if not text:
        return frozenset()
    try:
        return frozenset(RunStatus(v) for v in text.split(",") if v)
    except ValueError:
        raise InvalidRequest(
            f"status must be one of {[s.value for s in RunStatus]}", field="status"
        ) from None


async def _business_calendars(
    ui: Ui, tenant: TenantId
) -> tuple[list[Calendar], dict[CalendarId, BusinessCalendar]]:
    found = await calendars.list_calendars(ui.db, tenant_id=tenant, after=None, limit=BATCH)
    return list(found), {c.id: BusinessCalendar(c, ui.holidays) for c in found}

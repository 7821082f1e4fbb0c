"""Calendars on PostgreSQL."""

from __future__ import annotations

import asyncpg

from adapters.postgres.codec import calendar_document, calendar_from_document
from adapters.postgres.queries import sql
from adapters.postgres.writes import _guard, _stale_or_missing
from domain.calendar import Calendar
from domain.errors import Conflict, NotFound
from domain.ids import CalendarId, TenantId
from domain.ports import Keyset


class PgCalendars:
    def __init__(self, conn: asyncpg.Connection, tenant_id: TenantId | None) -> None:
        self._conn = conn
        self._tenant = tenant_id

    @staticmethod
    def _from_row(row: asyncpg.Record) -> Calendar:
        return calendar_from_document(
            row["spec"],
            id=CalendarId(row["id"]),
            tenant_id=TenantId(row["tenant_id"]),
            name=row["name"],
            version=row["version"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    async def get(self, calendar_id: CalendarId) -> Calendar:
        row = await self._conn.fetchrow(sql("get_calendar"), calendar_id)
        if row is None:
            raise NotFound("calendar", str(calendar_id))
        return self._from_row(row)

    async def list(self, *, after: Keyset | None, limit: int) -> list[Calendar]:
        at, id = after or (None, None)
        rows = await self._conn.fetch(sql("list_calendars"), at, id, limit)
        return [self._from_row(row) for row in rows]

    async def add(self, calendar: Calendar) -> None:
        _guard(calendar.tenant_id, self._tenant)
        try:
            await self._conn.execute(
                sql("insert_calendar"),
                calendar.tenant_id,
                calendar.id,
                calendar.name,
                calendar.version,
                calendar_document(calendar),
                calendar.created_at,
                calendar.updated_at,
            )
        except asyncpg.UniqueViolationError:
            raise Conflict(
                f"a calendar named {calendar.name!r} already exists", name=calendar.name
            ) from None

    async def save(self, calendar: Calendar, *, expected_version: int) -> None:
        _guard(calendar.tenant_id, self._tenant)
        try:
            status = await self._conn.execute(
                sql("update_calendar"),
                calendar.tenant_id,
                calendar.id,
                calendar.name,
                calendar.version,
                calendar_document(calendar),
                calendar.updated_at,
                expected_version,
            )
        except asyncpg.UniqueViolationError:
            raise Conflict(
                f"a calendar named {calendar.name!r} already exists", name=calendar.name
            ) from None
        if status == "UPDATE 0":
            await _stale_or_missing(
                self._conn, "calendar_version", "calendar", calendar.id, expected_version
            )

    async def users(self, calendar_id: CalendarId) -> int:
        count: int = await self._conn.fetchval(sql("calendar_users"), calendar_id)
        return count

    async def delete(self, calendar_id: CalendarId) -> None:
        try:
            status = await self._conn.execute(sql("delete_calendar"), calendar_id)
        except asyncpg.ForeignKeyViolationError:
            raise Conflict(
                "the calendar is referenced by schedules (deleted ones keep their history)",
                calendar_id=str(calendar_id),
            ) from None
        if status == "DELETE 0":
            raise NotFound("calendar", str(calendar_id))

"""Schedules on PostgreSQL; a stored schedule that does not decode is quarantined
(``domain.quarantine``) instead of failing its reader."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import asyncpg

from adapters.postgres.codec import schedule_document, schedule_from_document
from adapters.postgres.queries import sql
from adapters.postgres.writes import _guard, _stale_or_missing
from domain.errors import Conflict, NotFound
from domain.ids import JobId, ScheduleId, TenantId
from domain.ports import Keyset, ScheduleSearch
from domain.quarantine import Kind as QuarantineKind
from domain.quarantine import Unreadable, reason_of
from domain.schedule import Schedule, ScheduleState

log = logging.getLogger("kairos.postgres")


class PgSchedules:
    def __init__(self, conn: asyncpg.Connection, tenant_id: TenantId | None) -> None:
        self._conn = conn
        self._tenant = tenant_id
        self.unreadable: list[Unreadable] = []

    async def _readable(self, rows: Sequence[asyncpg.Record]) -> list[Schedule]:
        """The rows as schedules; one that does not decode is quarantined (paused, with
        its reason and event) and left out, so it stops no loop and no listing."""
        out: list[Schedule] = []
        for row in rows:
            try:
                out.append(self._from_row(row))
            except Exception as exc:  # any decoding failure: the row, not the caller
                await self._quarantine(row, exc)
        return out

    async def _quarantine(self, row: asyncpg.Record, exc: Exception) -> str:
        reason = reason_of("UNREADABLE: the stored schedule cannot be read", exc)
        log.error("schedule %s of tenant %s quarantined: %s", row["id"], row["tenant_id"], reason)
        moved = await self._conn.fetchrow(
            sql("quarantine_schedule"), row["tenant_id"], row["id"], reason
        )
        if moved is not None:
            self.unreadable.append(
                Unreadable(
                    kind=QuarantineKind.SCHEDULE,
                    tenant_id=TenantId(row["tenant_id"]),
                    id=row["id"],
                    revision=moved["version"],
                    reason=reason,
                    name=moved["name"],
                )
            )
        return reason

    @staticmethod
    def _from_row(row: asyncpg.Record) -> Schedule:
        return schedule_from_document(
            row["spec"],
            id=ScheduleId(row["id"]),
            tenant_id=TenantId(row["tenant_id"]),
            name=row["name"],
            job_id=JobId(row["job_id"]),
            state=ScheduleState(row["state"]),
            next_fire_at=row["next_fire_at"],
            fire_count=row["fire_count"],
            system=row["system"],
            version=row["version"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    def _values(self, schedule: Schedule) -> tuple[Any, ...]:
        _guard(schedule.tenant_id, self._tenant)
        return (
            schedule.tenant_id,
            schedule.id,
            schedule.name,
            schedule.job_id,
            schedule.timing.calendar_id,
            schedule_document(schedule),
            schedule.state.value,
            schedule.next_fire_at,
            schedule.fire_count,
            schedule.system,
            schedule.version,
            schedule.timing.trigger.kind.value,
        )

    async def get(self, schedule_id: ScheduleId) -> Schedule:
        row = await self._conn.fetchrow(sql("get_schedule"), schedule_id)
        if row is None:
            raise NotFound("schedule", str(schedule_id))
        found = await self._readable([row])
        if not found:
            raise Conflict(
                f"schedule {schedule_id} is stored in a form Kairos cannot read; it is paused",
                schedule_id=str(schedule_id),
            )
        return found[0]

    async def next_due(self, partitions: Sequence[int]) -> datetime | None:
        value: datetime | None = await self._conn.fetchval(sql("next_due"), list(partitions))
        return value

    async def due(self, until: datetime, limit: int, partitions: Sequence[int]) -> list[Schedule]:
        rows = await self._conn.fetch(sql("schedules_due"), until, limit, list(partitions))
        return await self._readable(rows)

    async def event_schedules(self) -> list[Schedule]:
        return await self._readable(await self._conn.fetch(sql("event_schedules")))

    async def count_live(self) -> int:
        return int(await self._conn.fetchval(sql("count_live_schedules")))

    async def of_job(self, job_id: JobId) -> list[Schedule]:
        rows = await self._conn.fetch(sql("schedules_of_job"), job_id)
        return await self._readable(rows)

    async def using_job(self, job_id: JobId) -> list[str]:
        rows = await self._conn.fetch(sql("schedules_using_job"), job_id)
        return [row["name"] for row in rows]

    async def by_name(self, name: str) -> Schedule:
        row = await self._conn.fetchrow(sql("schedule_by_name"), name)
        if row is None:
            raise NotFound("schedule", name)
        return self._from_row(row)

    async def advance_many(self, changes: Sequence[tuple[Schedule, int]]) -> None:
        if not changes:
            return
        for schedule, _ in changes:
            _guard(schedule.tenant_id, self._tenant)
        updated = await self._conn.fetch(
            sql("advance_schedules"),
            [s.tenant_id for s, _ in changes],
            [s.id for s, _ in changes],
            [s.state.value for s, _ in changes],
            [s.next_fire_at for s, _ in changes],
            [s.fire_count for s, _ in changes],
            [s.version for s, _ in changes],
            [s.updated_at for s, _ in changes],
            [expected for _, expected in changes],
        )
        if len(updated) != len(changes):
            done = {row["id"] for row in updated}
            first, expected = next((s, e) for s, e in changes if s.id not in done)
            await _stale_or_missing(self._conn, "schedule_version", "schedule", first.id, expected)

    async def list(self, *, after: Keyset | None, limit: int) -> list[Schedule]:
        at, id = after or (None, None)
        rows = await self._conn.fetch(sql("list_schedules"), at, id, limit)
        return await self._readable(rows)

    async def search(self, query: ScheduleSearch) -> tuple[Sequence[Schedule], int]:
        state = query.state.value if query.state is not None else None
        text = query.text[:200]
        total = await self._conn.fetchval(sql("count_search_schedules"), text, state)
        rows = await self._conn.fetch(
            sql("search_schedules"),
            text,
            state,
            query.order.value,
            query.descending,
            query.limit,
            query.offset,
        )
        return await self._readable(rows), int(total)

    async def add(self, schedule: Schedule) -> None:
        with _schedule_errors(schedule):
            await self._conn.execute(
                sql("insert_schedule"),
                *self._values(schedule),
                schedule.created_at,
                schedule.updated_at,
            )

    async def save(self, schedule: Schedule, *, expected_version: int) -> None:
        with _schedule_errors(schedule):
            status = await self._conn.execute(
                sql("update_schedule"),
                *self._values(schedule),
                schedule.updated_at,
                expected_version,
            )
        if status == "UPDATE 0":
            await _stale_or_missing(
                self._conn, "schedule_version", "schedule", schedule.id, expected_version
            )


@contextmanager
def _schedule_errors(schedule: Schedule) -> Iterator[None]:
    """Constraint violations of a schedule write as domain errors."""
    try:
        yield
    except asyncpg.UniqueViolationError:
        raise Conflict(
            f"a schedule named {schedule.name!r} already exists", name=schedule.name
        ) from None
    except asyncpg.ForeignKeyViolationError:
        raise NotFound("job", str(schedule.job_id)) from None

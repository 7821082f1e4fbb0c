"""The zone-rules ledger on PostgreSQL: ``tzdata_state`` and ``tzdata_replans``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import asyncpg

from adapters.postgres.queries import sql
from domain.ids import ScheduleId, TenantId
from domain.schedule import Schedule
from domain.tzdata import Replan

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger("kairos.postgres")


class PgZoneRules:
    def __init__(
        self,
        conn: asyncpg.Connection,
        tenant_id: TenantId | None,
        decode: Callable[[asyncpg.Record], Schedule],
    ) -> None:
        self._conn = conn
        self._tenant = tenant_id
        self._decode = decode

    async def recorded(self) -> str | None:
        value: str | None = await self._conn.fetchval(sql("tzdata_recorded"))
        return value

    async def record(self, version: str, *, replica: str, now: datetime) -> None:
        assert self._tenant is None, "the deployment's tzdata is recorded by the system"
        await self._conn.execute(sql("tzdata_record"), version, replica, now)

    async def planned(
        self, after: tuple[TenantId, ScheduleId] | None, limit: int
    ) -> list[tuple[Schedule, datetime | None]]:
        tenant, last = after or (None, None)
        rows = await self._conn.fetch(sql("tzdata_planned"), tenant, last, limit)
        out: list[tuple[Schedule, datetime | None]] = []
        for row in rows:
            try:
                schedule = self._decode(row)
            except Exception as exc:  # unreadable rows are the materialiser's to quarantine
                log.warning("tzdata re-plan: schedule %s left alone: %s", row["id"], exc)
                continue
            out.append((schedule, row["last_nominal"]))
        return out

    async def add(self, replans: Sequence[Replan]) -> None:
        if not replans:
            return
        await self._conn.execute(
            sql("tzdata_add_replans"),
            [r.tenant_id for r in replans],
            [r.schedule_id for r in replans],
            [r.name for r in replans],
            [r.timezone for r in replans],
            [r.tzdata_from for r in replans],
            [r.tzdata_to for r in replans],
            [r.old_next_fire_at for r in replans],
            [r.new_next_fire_at for r in replans],
            [r.replanned_at for r in replans],
        )

    async def replans(self, *, limit: int) -> list[Replan]:
        rows = await self._conn.fetch(sql("tzdata_replans"), limit)
        return [
            Replan(
                tenant_id=TenantId(row["tenant_id"]),
                schedule_id=ScheduleId(row["schedule_id"]),
                name=row["name"],
                timezone=row["timezone"],
                tzdata_from=row["tzdata_from"],
                tzdata_to=row["tzdata_to"],
                old_next_fire_at=row["old_next_fire_at"],
                new_next_fire_at=row["new_next_fire_at"],
                replanned_at=row["replanned_at"],
            )
            for row in rows
        ]

"""Backfill requests and their outcomes on PostgreSQL."""

from __future__ import annotations

import asyncpg

from adapters.postgres.queries import sql
from adapters.tenancy import require_tenant
from domain.backfill import Backfill, BackfillRequest
from domain.errors import NotFound
from domain.ids import BackfillId, ScheduleId, TenantId
from domain.schedule import OverlapPolicy


class PgBackfills:
    def __init__(self, conn: asyncpg.Connection, tenant_id: TenantId | None) -> None:
        self._conn = conn
        self._tenant = tenant_id

    async def add(self, backfill: Backfill) -> None:
        request = backfill.request
        if self._tenant is not None:
            require_tenant(request.tenant_id, self._tenant)
        await self._conn.execute(
            sql("insert_backfill"),
            request.tenant_id,
            backfill.id,
            request.schedule_id,
            request.from_at,
            request.to_at,
            request.max_runs,
            request.overlap_policy.value,
            request.ignore_calendar,
            backfill.planned,
            backfill.created,
            backfill.rearmed,
            backfill.existing,
            backfill.next_from,
            backfill.created_at,
        )

    async def get(self, backfill_id: BackfillId) -> Backfill:
        row = await self._conn.fetchrow(sql("get_backfill"), backfill_id)
        if row is None:
            raise NotFound("backfill", str(backfill_id))
        request = BackfillRequest(
            tenant_id=TenantId(row["tenant_id"]),
            schedule_id=ScheduleId(row["schedule_id"]),
            from_at=row["from_at"],
            to_at=row["to_at"],
            max_runs=row["max_runs"],
            overlap_policy=OverlapPolicy(row["overlap_policy"]),
            ignore_calendar=row["ignore_calendar"],
        )
        return Backfill(
            request=request,
            planned=row["planned"],
            created=row["created"],
            rearmed=row["rearmed"],
            existing=row["existing"],
            next_from=row["next_from"],
            created_at=row["created_at"],
        )

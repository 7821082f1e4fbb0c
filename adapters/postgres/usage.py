"""Per-tenant usage counts on PostgreSQL (a system read across tenants)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from adapters import jsonfast
from adapters.postgres.queries import sql
from domain.ids import TenantId
from domain.usage import TenantUsage


class PgUsage:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def usage(self, since: datetime) -> list[TenantUsage]:
        rows = await self._conn.fetch(sql("tenant_usage"), since)
        return [
            TenantUsage(
                tenant_id=TenantId(row["tenant_id"]),
                schedules=row["schedules"],
                enabled=row["enabled"],
                jobs=row["jobs"],
                running=row["running"],
                queued=row["queued"],
                waiting=row["waiting"],
                workers=row["workers"],
                ended=jsonfast.loads(row["ended"]),
            )
            for row in rows
        ]

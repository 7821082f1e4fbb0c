"""The audit trail on PostgreSQL."""

from __future__ import annotations

import asyncpg

from adapters.postgres.queries import sql
from adapters.postgres.writes import _guard
from domain.audit import AuditEntry
from domain.ids import TenantId
from domain.ports import Keyset


class PgAudit:
    def __init__(self, conn: asyncpg.Connection, tenant_id: TenantId | None) -> None:
        self._conn = conn
        self._tenant = tenant_id

    async def add(self, entry: AuditEntry) -> None:
        _guard(entry.tenant_id, self._tenant)
        await self._conn.execute(
            sql("insert_audit"),
            entry.tenant_id,
            entry.id,
            entry.at,
            entry.actor,
            entry.method,
            entry.path,
            entry.status,
            None if entry.before is None else dict(entry.before),
            None if entry.after is None else dict(entry.after),
        )

    async def list(self, *, after: Keyset | None, limit: int) -> list[AuditEntry]:
        at, id = after or (None, None)
        rows = await self._conn.fetch(sql("list_audit"), at, id, limit)
        return [
            AuditEntry(
                tenant_id=TenantId(row["tenant_id"]),
                id=row["id"],
                at=row["at"],
                actor=row["actor"],
                method=row["method"],
                path=row["path"],
                status=row["status"],
                before=row["before"],
                after=row["after"],
            )
            for row in rows
        ]

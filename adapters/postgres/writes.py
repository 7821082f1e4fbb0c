"""What the PostgreSQL repositories' writes share: the tenant guard, and the answer to an
optimistic update that matched no row (stale version or missing row)."""

from __future__ import annotations

import uuid

import asyncpg

from adapters.postgres.queries import sql
from adapters.tenancy import require_tenant
from domain.errors import Conflict, NotFound
from domain.ids import TenantId


def _guard(owner: TenantId, tenant: TenantId | None) -> None:
    if tenant is not None:
        require_tenant(owner, tenant)


async def _stale_or_missing(
    conn: asyncpg.Connection, query: str, kind: str, id: uuid.UUID, expected: int
) -> None:
    current = await conn.fetchval(sql(query), id)
    if current is None:
        raise NotFound(kind, str(id))
    raise Conflict(
        f"{kind} {id} was changed concurrently (version {current}, expected {expected})",
        id=str(id),
        version=current,
        expected_version=expected,
    )

"""Usage next to quotas: a tenant's own (``GET /usage``) or, for the operator, every
tenant's (``GET /admin/usage``), counted in one query each."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from domain.ids import TenantId
from domain.ports import Database
from domain.usage import TenantUsage

WINDOW = timedelta(hours=24)  # ended runs are counted over this, unless ``since`` says


async def tenant_usage(
    db: Database, *, tenant_id: TenantId, since: datetime | None = None
) -> tuple[TenantUsage, datetime]:
    async with db.transaction(tenant_id) as tx:
        start = since if since is not None else await tx.now() - WINDOW
        found = await tx.usage.usage(start)
    return (found[0] if found else TenantUsage(tenant_id=tenant_id)), start


async def every_tenants_usage(
    db: Database, *, since: datetime | None = None
) -> tuple[Sequence[TenantUsage], datetime]:
    """Across tenants (a system transaction): only ever called for the operator."""
    async with db.system() as tx:
        start = since if since is not None else await tx.now() - WINDOW
        return await tx.usage.usage(start), start

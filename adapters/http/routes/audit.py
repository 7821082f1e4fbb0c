"""The audit trail and usage against quotas (the tenant's own, and every tenant's for
the operator)."""

from __future__ import annotations

from fastapi import APIRouter

from adapters.http import models as m
from adapters.http.deps import Admin, Ctx
from adapters.http.pagination import Limit, Page, decode, page
from domain.durations import parse_instant
from domain.errors import Forbidden
from service.usecases import usage

router = APIRouter(tags=["audit"], responses=m.ERRORS)


@router.get("/audit", response_model=m.AuditPage, response_model_exclude_unset=True)
async def audit_trail(t: Admin, ctx: Ctx, limit: Limit = 50, cursor: str | None = None) -> Page:
    """The tenant's mutating calls, newest first: actor, method, path, status, and
    the resource before and after (secrets redacted)."""
    async with ctx.db.transaction(t) as tx:
        found = await tx.audit.list(after=decode(cursor), limit=limit)
    return page(found, limit, m.AuditEntry.from_domain, lambda e: (e.at, e.id))


@router.get("/usage", response_model=m.OwnUsage, response_model_exclude_unset=True)
async def own_usage(t: Admin, ctx: Ctx, since: str | None = None) -> m.OwnUsage:
    """The tenant's usage next to its quotas: live schedules, jobs, runs running,
    queued and waiting, runs ended since ``since`` (default: 24 hours) by status,
    workers online."""
    at = parse_instant(since, field="since") if since else None
    found, start = await usage.tenant_usage(ctx.db, tenant_id=t, since=at)
    return m.OwnUsage(since=start.isoformat(), **m.Usage.fields_of(found, ctx.quotas))


@router.get("/admin/usage", response_model=m.EveryUsage, response_model_exclude_unset=True)
async def every_usage(t: Admin, ctx: Ctx, since: str | None = None) -> m.EveryUsage:
    """Every tenant's usage, for the operator: an admin token of the operator's
    tenant (``KAIROS_OPERATOR_TENANT``) only; anyone else is 403."""
    if ctx.operator is None or t != ctx.operator:
        raise Forbidden("only the operator's tenant sees every tenant's usage", needed="operator")
    at = parse_instant(since, field="since") if since else None
    found, start = await usage.every_tenants_usage(ctx.system_db, since=at)
    items = [m.Usage.from_domain(u, ctx.quotas) for u in found]
    return m.EveryUsage(since=start.isoformat(), items=items)

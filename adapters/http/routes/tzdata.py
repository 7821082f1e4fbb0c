"""Zone rules: this replica's tzdata, the deployment's, and the schedules a change
re-planned."""

from __future__ import annotations

from fastapi import APIRouter

from adapters.http import models as m
from adapters.http.deps import Ctx, Read
from adapters.http.pagination import Limit
from service.usecases import tzdata

router = APIRouter(tags=["audit"], responses=m.ERRORS)


@router.get("/tzdata", response_model=m.ZoneRules)
async def zone_rules(t: Read, ctx: Ctx, limit: Limit = 100) -> m.ZoneRules:
    """Zone rules: this replica's tzdata version, the one the deployment's next fires
    were planned with, and the tenant's schedules whose next fire a change moved."""
    report = await tzdata.zone_rules_report(ctx.db, tenant_id=t, limit=limit)
    return m.ZoneRules.model_validate(tzdata.render_report(report))

"""Backfills: a schedule's fires over a past range, and their progress. Started from
the schedule (``POST /schedules/{id}/backfill``); read here."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from adapters.http import models as m
from adapters.http.deps import Ctx, Read
from domain.ids import BackfillId
from service.usecases import backfills

router = APIRouter(tags=["schedules"], responses=m.ERRORS)


@router.get(
    "/backfills/{backfill_id}", response_model=m.Backfill, response_model_exclude_unset=True
)
async def get_backfill(backfill_id: uuid.UUID, t: Read, ctx: Ctx) -> m.Backfill:
    backfill, progress = await backfills.get_backfill(
        ctx.db, tenant_id=t, backfill_id=BackfillId(backfill_id)
    )
    return m.Backfill.from_domain(backfill, progress)

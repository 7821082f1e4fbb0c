"""Runs: one execution of a job at a nominal time. Read sees them and their statistics;
operate retries and cancels them. (An external worker completes or fails the runs it
holds: ``workers.py``.)"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from adapters.http import models as m
from adapters.http.audit import Audit
from adapters.http.deps import Context, Ctx, Operate, Read
from adapters.http.pagination import Limit, Page, decode, page
from adapters.http.routes._shared import instant
from domain.errors import InvalidRequest
from domain.ids import JobId, RunId, ScheduleId, TenantId
from domain.ports import RunFilter
from domain.run import RunStatus
from service.usecases import runs

router = APIRouter(tags=["runs"], responses=m.ERRORS)


@router.get("/stats", response_model=m.Stats, response_model_exclude_unset=True)
async def stats(t: Read, ctx: Ctx, since: str | None = None) -> m.Stats:
    return await stats_of(ctx, t, None, since)


async def stats_of(
    ctx: Context, t: TenantId, schedule_id: ScheduleId | None, since: str | None
) -> m.Stats:
    found, start = await runs.run_stats(
        ctx.db, tenant_id=t, schedule_id=schedule_id, since=instant(since, "since")
    )
    return m.Stats.from_domain(found, start)


@router.get("/runs", response_model=m.RunPage, response_model_exclude_unset=True)
async def list_runs(
    t: Read,
    ctx: Ctx,
    *,
    limit: Limit = 50,
    cursor: str | None = None,
    schedule_id: uuid.UUID | None = None,
    job_id: uuid.UUID | None = None,
    status: Annotated[list[str] | None, Query()] = None,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: str | None = None,
) -> Page:
    where = RunFilter(
        schedule_id=ScheduleId(schedule_id) if schedule_id else None,
        job_id=JobId(job_id) if job_id else None,
        statuses=_statuses(status or []),
        nominal_from=instant(from_, "from"),
        nominal_to=instant(to, "to"),
    )
    found = await runs.list_runs(
        ctx.db, tenant_id=t, where=where, after=decode(cursor), limit=limit
    )
    why = await runs.waiting_reasons(ctx.db, tenant_id=t, runs=found, limits=ctx.quotas)
    return page(
        found,
        limit,
        lambda r: m.Run.from_domain(r, waiting_for=why.get(r.id)),
        lambda r: (r.nominal_at, r.id),
    )


@router.get("/runs/{run_id}", response_model=m.Run, response_model_exclude_unset=True)
async def get_run(run_id: uuid.UUID, t: Read, ctx: Ctx) -> m.Run:
    run = await runs.get_run(ctx.db, tenant_id=t, run_id=RunId(run_id))
    why = await runs.waiting_reasons(ctx.db, tenant_id=t, runs=[run], limits=ctx.quotas)
    return m.Run.from_domain(run, attempts=True, waiting_for=why.get(run.id))


@router.post("/runs/{run_id}/retry", response_model=m.Run, response_model_exclude_unset=True)
async def retry_run(run_id: uuid.UUID, t: Operate, audit: Audit, ctx: Ctx) -> m.Run:
    audit.before(m.Run.from_domain(await runs.get_run(ctx.db, tenant_id=t, run_id=RunId(run_id))))
    answer = m.Run.from_domain(await runs.retry_run(ctx.db, tenant_id=t, run_id=RunId(run_id)))
    audit.after(answer)
    return answer


@router.post("/runs/{run_id}/cancel", response_model=m.Run, response_model_exclude_unset=True)
async def cancel_run(
    run_id: uuid.UUID, t: Operate, audit: Audit, ctx: Ctx, response: Response
) -> m.Run:
    """A run not yet running ends ``cancelled`` (200). A running one is marked
    (202, ``cancel_requested``): its worker is told, and it ends ``cancelled`` when
    the worker stops or its lease runs out."""
    audit.before(m.Run.from_domain(await runs.get_run(ctx.db, tenant_id=t, run_id=RunId(run_id))))
    run = await runs.cancel_run(ctx.db, tenant_id=t, run_id=RunId(run_id))
    if run.status is RunStatus.RUNNING:
        response.status_code = 202
    answer = m.Run.from_domain(run)
    audit.after(answer)
    return answer


def _statuses(values: list[str]) -> frozenset[RunStatus]:
    out = set()
    for value in (v for raw in values for v in raw.split(",") if v):
        try:
            out.add(RunStatus(value))
        except ValueError:
            raise InvalidRequest(
                f"unknown status {value!r}; one of {[s.value for s in RunStatus]}",
                field="status",
            ) from None
    return frozenset(out)

"""The external worker protocol: register, heartbeat, claim runs (long-poll), complete
or fail a run, report outcomes in batches, drain and stop. A worker operates runs."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Response

from adapters.http import models as m
from adapters.http.deps import Ctx, Operate, Read
from adapters.http.pagination import Limit, decode, page
from adapters.http.routes._outcomes import batch_outcome, bounded, outcome, seconds
from adapters.http.routes._shared import doc
from domain.durations import format_duration
from domain.errors import InvalidRequest
from domain.ids import RunId, WorkerId, new_id
from service.specs import (
    held_runs,
    lease_option,
    render_claimed,
    render_run,
    render_worker,
    worker_registration,
)
from service.usecases import runs
from service.usecases import worker_registry as workers

router = APIRouter(tags=["workers"], responses=m.ERRORS)

MAX_CLAIM = 100
MAX_REPORT = 500
MAX_WAIT = 30
CLAIM_POLL_MIN, CLAIM_POLL_MAX = 0.05, 0.5


@router.post(
    "/workers/register", status_code=201, response_model=m.Worker, response_model_exclude_unset=True
)
async def register_worker(
    body: m.WorkerIn, t: Operate, ctx: Ctx, response: Response
) -> dict[str, Any]:
    worker = await workers.register_worker(
        ctx.db, worker_id=WorkerId(new_id()), tenant_id=t, **worker_registration(doc(body))
    )
    response.headers["Location"] = f"/workers/{worker.id}"
    return {**render_worker(worker), "lease": format_duration(runs.DEFAULT_LEASE)}


@router.get("/workers", response_model=m.WorkerPage, response_model_exclude_unset=True)
async def list_workers(
    t: Read, ctx: Ctx, limit: Limit = 50, cursor: str | None = None
) -> dict[str, Any]:
    found = await workers.list_workers(ctx.db, tenant_id=t, after=decode(cursor), limit=limit)
    return page(found, limit, render_worker, lambda w: (w.registered_at, w.id))


@router.get("/workers/{worker_id}", response_model=m.Worker, response_model_exclude_unset=True)
async def get_worker(worker_id: uuid.UUID, t: Read, ctx: Ctx) -> dict[str, Any]:
    return render_worker(
        await workers.get_worker(ctx.db, tenant_id=t, worker_id=WorkerId(worker_id))
    )


@router.post(
    "/workers/{worker_id}/heartbeat",
    response_model=m.HeartbeatOut,
    response_model_exclude_unset=True,
)
async def worker_heartbeat(
    worker_id: uuid.UUID,
    t: Operate,
    ctx: Ctx,
    body: Annotated[m.HeartbeatIn | None, Body()] = None,
) -> dict[str, Any]:
    """Extends the leases of the runs held (``{"held": {run_id: token}}``); answers
    the runs to cancel, the runs lost (stop, report nothing) and the drain flag."""
    document = doc(body)
    beat = await workers.heartbeat(
        ctx.db,
        worker_id=WorkerId(worker_id),
        held={RunId(k): v for k, v in held_runs(document).items()},
        lease=lease_option(document, runs.DEFAULT_LEASE),
        tenant_id=t,
    )
    return {
        "state": beat.worker.state.value,
        "drain": beat.drain,
        "cancel": sorted(str(r) for r in beat.cancel),
        "lost": sorted(str(r) for r in beat.lost),
    }


@router.post(
    "/workers/{worker_id}/claim", response_model=m.ClaimOut, response_model_exclude_unset=True
)
async def claim_runs(
    worker_id: uuid.UUID,
    t: Operate,
    ctx: Ctx,
    body: Annotated[m.ClaimIn | None, Body()] = None,
) -> dict[str, Any]:
    """Long-poll: up to ``max`` runs (1..100) matching the worker's capabilities and
    free capacity, waiting up to ``wait`` seconds (0..30) for one to come due."""
    document = doc(body)
    limit = bounded(document.get("max", 1), "max", 1, MAX_CLAIM)
    wait = bounded(document.get("wait", 0), "wait", 0, MAX_WAIT)
    lease = lease_option(document, runs.DEFAULT_LEASE)
    deadline = asyncio.get_running_loop().time() + wait
    pause = CLAIM_POLL_MIN
    while True:
        claimed = await runs.claim_for_worker(
            ctx.db,
            tenant_id=t,
            worker_id=WorkerId(worker_id),
            limit=int(limit),
            lease=lease,
            max_running=ctx.quotas.max_running,
        )
        if claimed is None:
            return {"runs": [], "drain": True}
        left = deadline - asyncio.get_running_loop().time()
        if claimed.runs or left <= 0:
            return {
                "runs": [render_claimed(r, claimed.jobs.get(r.job_id)) for r in claimed.runs],
                "drain": False,
            }
        await asyncio.sleep(min(pause, left))
        pause = min(pause * 2, CLAIM_POLL_MAX)


@router.post(
    "/workers/{worker_id}/report", response_model=m.ReportOut, response_model_exclude_unset=True
)
async def report_outcomes(
    worker_id: uuid.UUID, body: m.ReportIn, t: Operate, ctx: Ctx
) -> dict[str, Any]:
    """Many outcomes in one transaction: ``{"outcomes": [{"run_id", "token",
    "error"?, "retry_after"?, "detail"?}]}`` (at most 500; no ``error`` is success).
    Answers the ids ``recorded`` and the ids ``lost`` (stale token or unknown run:
    drop them)."""
    if len(body.outcomes) > MAX_REPORT:
        raise InvalidRequest(f"at most {MAX_REPORT} outcomes at once", field="outcomes")
    await workers.get_worker(ctx.db, tenant_id=t, worker_id=WorkerId(worker_id))
    outcomes = [batch_outcome(item, i) for i, item in enumerate(body.outcomes)]
    done, lost = await runs.report_many(
        ctx.db, tenant_id=t, outcomes=outcomes, worker_id=WorkerId(worker_id)
    )
    return {"recorded": [str(r.id) for r in done], "lost": [str(r) for r in lost]}


@router.post(
    "/runs/{run_id}/complete",
    response_model=m.Run,
    response_model_exclude_unset=True,
)
async def complete_run(
    run_id: uuid.UUID, body: m.CompleteIn, t: Operate, ctx: Ctx
) -> dict[str, Any]:
    """An external worker's success, under its lease token (stale: 409 LEASE_LOST)."""
    token, detail = outcome(doc(body), {"token", "detail"})
    run = await runs.report(ctx.db, tenant_id=t, run_id=RunId(run_id), token=token, detail=detail)
    return render_run(run)


@router.post("/runs/{run_id}/fail", response_model=m.Run, response_model_exclude_unset=True)
async def fail_run(run_id: uuid.UUID, body: m.FailIn, t: Operate, ctx: Ctx) -> dict[str, Any]:
    """An external worker's failure: retried after the job's backoff (or
    ``retry_after`` seconds if longer), dead after the last attempt; a run whose
    cancel was asked for ends ``cancelled``."""
    document = doc(body)
    token, detail = outcome(document, {"token", "error", "retry_after", "detail"})
    error = document.get("error")
    if not isinstance(error, str) or not error.strip():
        raise InvalidRequest("error (a message) is required", field="error")
    run = await runs.report(
        ctx.db,
        tenant_id=t,
        run_id=RunId(run_id),
        token=token,
        error=error[:2000],
        retry_after=seconds(document.get("retry_after"), "retry_after"),
        detail=detail,
    )
    return render_run(run)


@router.post(
    "/workers/{worker_id}/drain", response_model=m.Worker, response_model_exclude_unset=True
)
async def drain_worker(worker_id: uuid.UUID, t: Operate, ctx: Ctx) -> dict[str, Any]:
    """The worker finishes what it holds and takes nothing more (told in its next
    heartbeat answer; its claims answer ``drain: true``)."""
    return render_worker(
        await workers.drain_worker(ctx.db, tenant_id=t, worker_id=WorkerId(worker_id))
    )


@router.post(
    "/workers/{worker_id}/stop", response_model=m.Worker, response_model_exclude_unset=True
)
async def stop_worker(worker_id: uuid.UUID, t: Operate, ctx: Ctx) -> dict[str, Any]:
    """A clean exit: offline now (``scheduler.worker.offline``)."""
    await workers.stop_worker(ctx.db, worker_id=WorkerId(worker_id), tenant_id=t)
    return render_worker(
        await workers.get_worker(ctx.db, tenant_id=t, worker_id=WorkerId(worker_id))
    )

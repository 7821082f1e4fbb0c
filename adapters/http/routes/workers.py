"""The external worker protocol: register, heartbeat, claim runs (long-poll), complete
or fail a run, report outcomes in batches, drain and stop. A worker operates runs."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Response

from adapters.http import models as m
from adapters.http import requests as r
from adapters.http.deps import Ctx, Operate, Read
from adapters.http.pagination import Limit, NameQuery, Page, decode, page
from domain.errors import InvalidRequest
from domain.ids import RunId, WorkerId, new_id
from service.telemetry import NO_METRICS
from service.usecases import parsing, runs
from service.usecases import worker_registry as workers

router = APIRouter(tags=["workers"], responses=m.ERRORS)

MAX_CLAIM = 100
MAX_REPORT = 500
MAX_WAIT = 30
CLAIM_POLL_MIN, CLAIM_POLL_MAX = 0.05, 0.5


@router.post(
    "/workers/register", status_code=201, response_model=m.Worker, response_model_exclude_unset=True
)
async def register_worker(body: r.WorkerIn, t: Operate, ctx: Ctx, response: Response) -> m.Worker:
    command = parsing.register_worker(body.fields(), tenant_id=t)
    worker = await workers.register_worker(
        ctx.db,
        worker_id=WorkerId(new_id()),
        tenant_id=command.tenant_id,
        name=command.name,
        capabilities=command.capabilities,
        capacity=command.capacity,
        version=command.version,
        labels=command.labels,
        heartbeat_interval=command.heartbeat_interval,
    )
    response.headers["Location"] = f"/workers/{worker.id}"
    return m.Worker.from_domain(worker, lease=runs.DEFAULT_LEASE)


@router.get("/workers", response_model=m.WorkerPage, response_model_exclude_unset=True)
async def list_workers(
    t: Read, ctx: Ctx, limit: Limit = 50, cursor: str | None = None, name: NameQuery = None
) -> Page:
    """``name``: only the workers with exactly that name (one page)."""
    if name is not None:
        named = await workers.workers_named(ctx.db, tenant_id=t, name=name)
        return page(named, len(named) + 1, m.Worker.from_domain, lambda w: (w.registered_at, w.id))
    found = await workers.list_workers(ctx.db, tenant_id=t, after=decode(cursor), limit=limit)
    return page(found, limit, m.Worker.from_domain, lambda w: (w.registered_at, w.id))


@router.get("/workers/{worker_id}", response_model=m.Worker, response_model_exclude_unset=True)
async def get_worker(worker_id: uuid.UUID, t: Read, ctx: Ctx) -> m.Worker:
    found = await workers.get_worker(ctx.db, tenant_id=t, worker_id=WorkerId(worker_id))
    return m.Worker.from_domain(found)


@router.post(
    "/workers/{worker_id}/heartbeat",
    response_model=m.HeartbeatOut,
    response_model_exclude_unset=True,
)
async def worker_heartbeat(
    worker_id: uuid.UUID,
    t: Operate,
    ctx: Ctx,
    body: Annotated[r.HeartbeatIn | None, Body()] = None,
) -> m.HeartbeatOut:
    """Extends the leases of the runs held (``{"held": {run_id: token}}``); answers
    the runs to cancel, the runs lost (stop, report nothing) and the drain flag."""
    sent = {} if body is None else body.fields()
    beat = await workers.heartbeat(
        ctx.db,
        worker_id=WorkerId(worker_id),
        held=parsing.held_runs(sent),
        lease=parsing.lease(sent, runs.DEFAULT_LEASE),
        tenant_id=t,
    )
    return m.HeartbeatOut(
        state=beat.worker.state,
        drain=beat.drain,
        cancel=sorted(str(run) for run in beat.cancel),
        lost=sorted(str(run) for run in beat.lost),
    )


@router.post(
    "/workers/{worker_id}/claim", response_model=m.ClaimOut, response_model_exclude_unset=True
)
async def claim_runs(
    worker_id: uuid.UUID,
    t: Operate,
    ctx: Ctx,
    body: Annotated[r.ClaimIn | None, Body()] = None,
) -> m.ClaimOut:
    """Long-poll: up to ``max`` runs (1..100) matching the worker's capabilities and
    free capacity, waiting up to ``wait`` seconds (0..30) for one to come due."""
    sent = {} if body is None else body.fields()
    limit = parsing.bounded(sent.get("max", 1), "max", 1, MAX_CLAIM)
    wait = parsing.bounded(sent.get("wait", 0), "wait", 0, MAX_WAIT)
    lease = parsing.lease(sent, runs.DEFAULT_LEASE)
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
            metrics=ctx.metrics or NO_METRICS,
        )
        if claimed is None:
            return m.ClaimOut(runs=[], drain=True)
        left = deadline - asyncio.get_running_loop().time()
        if claimed.runs or left <= 0:
            return m.ClaimOut(
                runs=[
                    m.ClaimedRun.from_domain(c, claimed.jobs.get(c.job_id)) for c in claimed.runs
                ],
                drain=False,
            )
        await asyncio.sleep(min(pause, left))
        pause = min(pause * 2, CLAIM_POLL_MAX)


@router.post("/runs/{run_id}/complete", response_model=m.Run, response_model_exclude_unset=True)
async def complete_run(run_id: uuid.UUID, body: r.CompleteIn, t: Operate, ctx: Ctx) -> m.Run:
    """An external worker's success, under its lease token (stale: 409 LEASE_LOST)."""
    command = parsing.report_run(body.fields(), run_id=RunId(run_id), failed=False)
    return m.Run.from_domain(await runs.report(ctx.db, tenant_id=t, command=command))


@router.post("/runs/{run_id}/fail", response_model=m.Run, response_model_exclude_unset=True)
async def fail_run(run_id: uuid.UUID, body: r.FailIn, t: Operate, ctx: Ctx) -> m.Run:
    """An external worker's failure: retried after the job's backoff (or
    ``retry_after`` seconds if longer), dead after the last attempt; a run whose
    cancel was asked for ends ``cancelled``."""
    command = parsing.report_run(body.fields(), run_id=RunId(run_id), failed=True)
    return m.Run.from_domain(await runs.report(ctx.db, tenant_id=t, command=command))


@router.post(
    "/workers/{worker_id}/report", response_model=m.ReportOut, response_model_exclude_unset=True
)
async def report_outcomes(
    worker_id: uuid.UUID, body: r.ReportIn, t: Operate, ctx: Ctx
) -> m.ReportOut:
    """Many outcomes in one transaction: ``{"outcomes": [{"run_id", "token",
    "error"?, "retry_after"?, "detail"?}]}`` (at most 500; no ``error`` is success).
    Answers the ids ``recorded`` and the ids ``lost`` (stale token or unknown run:
    drop them)."""
    if len(body.outcomes) > MAX_REPORT:
        raise InvalidRequest(f"at most {MAX_REPORT} outcomes at once", field="outcomes")
    await workers.get_worker(ctx.db, tenant_id=t, worker_id=WorkerId(worker_id))
    outcomes = [parsing.batch_outcome(item, i) for i, item in enumerate(body.outcomes)]
    done, lost = await runs.report_many(
        ctx.db, tenant_id=t, outcomes=outcomes, worker_id=WorkerId(worker_id)
    )
    return m.ReportOut(recorded=[str(run.id) for run in done], lost=[str(run) for run in lost])


@router.post(
    "/workers/{worker_id}/drain", response_model=m.Worker, response_model_exclude_unset=True
)
async def drain_worker(worker_id: uuid.UUID, t: Operate, ctx: Ctx) -> m.Worker:
    """The worker finishes what it holds and takes nothing more (told in its next
    heartbeat answer; its claims answer ``drain: true``)."""
    drained = await workers.drain_worker(ctx.db, tenant_id=t, worker_id=WorkerId(worker_id))
    return m.Worker.from_domain(drained)


@router.post(
    "/workers/{worker_id}/stop", response_model=m.Worker, response_model_exclude_unset=True
)
async def stop_worker(worker_id: uuid.UUID, t: Operate, ctx: Ctx) -> m.Worker:
    """A clean exit: offline now (``scheduler.worker.offline``)."""
    await workers.stop_worker(ctx.db, worker_id=WorkerId(worker_id), tenant_id=t)
    stopped = await workers.get_worker(ctx.db, tenant_id=t, worker_id=WorkerId(worker_id))
    return m.Worker.from_domain(stopped)

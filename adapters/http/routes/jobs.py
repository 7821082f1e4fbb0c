"""Jobs: what a run does (its target), with its retries, timeout and signing secrets."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Response

from adapters.http import models as m
from adapters.http import requests as r
from adapters.http.audit import Audit
from adapters.http.deps import Admin, Ctx, Read
from adapters.http.pagination import Limit, NameQuery, Page, decode, page
from domain.ids import JobId
from service.usecases import jobs, parsing

router = APIRouter(tags=["jobs"], responses=m.ERRORS)


@router.post("/jobs", status_code=201, response_model=m.Job, response_model_exclude_unset=True)
async def create_job(
    body: r.JobCreate, t: Admin, audit: Audit, ctx: Ctx, response: Response
) -> m.Job:
    """An HTTP job's answer carries its signing ``secret``: shown this once."""
    command = parsing.create_job(body.fields(), tenant_id=t)
    job, secret = await jobs.create_job(ctx.db, command, box=ctx.secrets, addresses=ctx.addresses)
    response.headers["Location"] = f"/jobs/{job.id}"
    answer = m.Job.from_domain(job, secret=secret)
    audit.after(answer)
    return answer


@router.get("/jobs", response_model=m.JobPage, response_model_exclude_unset=True)
async def list_jobs(
    t: Read, ctx: Ctx, limit: Limit = 50, cursor: str | None = None, name: NameQuery = None
) -> Page:
    """``name``: only the job with exactly that name (a page of none or one)."""
    if name is not None:
        named = await jobs.jobs_named(ctx.db, tenant_id=t, name=name)
        return page(named, len(named) + 1, m.Job.from_domain, lambda j: (j.created_at, j.id))
    found = await jobs.list_jobs(ctx.db, tenant_id=t, after=decode(cursor), limit=limit)
    return page(found, limit, m.Job.from_domain, lambda j: (j.created_at, j.id))


@router.get("/jobs/{job_id}", response_model=m.Job, response_model_exclude_unset=True)
async def get_job(job_id: uuid.UUID, t: Read, ctx: Ctx) -> m.Job:
    return m.Job.from_domain(await jobs.get_job(ctx.db, tenant_id=t, job_id=JobId(job_id)))


@router.patch("/jobs/{job_id}", response_model=m.Job, response_model_exclude_unset=True)
async def patch_job(job_id: uuid.UUID, body: r.JobPatch, t: Admin, audit: Audit, ctx: Ctx) -> m.Job:
    audit.before(m.Job.from_domain(await jobs.get_job(ctx.db, tenant_id=t, job_id=JobId(job_id))))
    command = parsing.revise_job(body.fields(), tenant_id=t, job_id=JobId(job_id))
    job, secret = await jobs.update_job(ctx.db, command, box=ctx.secrets, addresses=ctx.addresses)
    audit.after(m.Job.from_domain(job))
    return m.Job.from_domain(job, secret=secret)


@router.delete("/jobs/{job_id}", status_code=204)
async def delete_job(job_id: uuid.UUID, t: Admin, audit: Audit, ctx: Ctx) -> Response:
    """Delete a job and its signing secrets: 409 naming the schedules that still run it.
    Its runs stay readable."""
    audit.before(m.Job.from_domain(await jobs.get_job(ctx.db, tenant_id=t, job_id=JobId(job_id))))
    await jobs.delete_job(ctx.db, tenant_id=t, job_id=JobId(job_id))
    return Response(status_code=204)


@router.post(
    "/jobs/{job_id}/secrets",
    status_code=201,
    response_model=m.NewSecret,
    response_model_exclude_unset=True,
)
async def add_secret(
    job_id: uuid.UUID,
    t: Admin,
    audit: Audit,
    ctx: Ctx,
    body: Annotated[r.SecretIn | None, Body()] = None,
) -> m.NewSecret:
    """Rotation, step 1: one more active secret (generated, or ``{"secret": ...}``);
    every delivery is signed with each active secret. Its value is shown once."""
    value = None if body is None else body.secret
    audit.before(m.Job.from_domain(await jobs.get_job(ctx.db, tenant_id=t, job_id=JobId(job_id))))
    new = await jobs.add_secret(
        ctx.db, tenant_id=t, job_id=JobId(job_id), box=ctx.secrets, value=value
    )
    audit.after(m.Job.from_domain(new.job))
    return m.NewSecret(id=new.secret_id, secret=new.value, job=m.Job.from_domain(new.job))


@router.delete("/jobs/{job_id}/secrets/{secret_id}", status_code=204)
async def remove_secret(
    job_id: uuid.UUID, secret_id: str, t: Admin, audit: Audit, ctx: Ctx
) -> Response:
    """Rotation, step 2: retire the old secret once the receiver uses the new one."""
    audit.before(m.Job.from_domain(await jobs.get_job(ctx.db, tenant_id=t, job_id=JobId(job_id))))
    job = await jobs.remove_secret(ctx.db, tenant_id=t, job_id=JobId(job_id), secret_id=secret_id)
    audit.after(m.Job.from_domain(job))
    return Response(status_code=204)

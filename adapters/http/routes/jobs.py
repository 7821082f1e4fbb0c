"""Jobs: what a run does (its target), with its retries, timeout and signing secrets."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Response

from adapters.http import models as m
from adapters.http.deps import Admin, Ctx, Read
from adapters.http.pagination import Limit, decode, page
from adapters.http.routes._shared import doc
from domain.ids import JobId
from domain.job import Job
from service.specs import job_options, render_job, require
from service.usecases import jobs

router = APIRouter(tags=["jobs"], responses=m.ERRORS)


@router.post("/jobs", status_code=201, response_model=m.Job, response_model_exclude_unset=True)
async def create_job(body: m.JobCreate, t: Admin, ctx: Ctx, response: Response) -> dict[str, Any]:
    """An HTTP job's answer carries its signing ``secret``: shown this once."""
    options = job_options(doc(body))
    require(options, "name", "target")
    job, secret = await jobs.create_job(ctx.db, tenant_id=t, box=ctx.secrets, **options)
    response.headers["Location"] = f"/jobs/{job.id}"
    return _with_secret(render_job(job), secret, job)


@router.get("/jobs", response_model=m.JobPage, response_model_exclude_unset=True)
async def list_jobs(
    t: Read, ctx: Ctx, limit: Limit = 50, cursor: str | None = None
) -> dict[str, Any]:
    found = await jobs.list_jobs(ctx.db, tenant_id=t, after=decode(cursor), limit=limit)
    return page(found, limit, render_job, lambda j: (j.created_at, j.id))


@router.get("/jobs/{job_id}", response_model=m.Job, response_model_exclude_unset=True)
async def get_job(job_id: uuid.UUID, t: Read, ctx: Ctx) -> dict[str, Any]:
    return render_job(await jobs.get_job(ctx.db, tenant_id=t, job_id=JobId(job_id)))


@router.patch("/jobs/{job_id}", response_model=m.Job, response_model_exclude_unset=True)
async def patch_job(job_id: uuid.UUID, body: m.JobPatch, t: Admin, ctx: Ctx) -> dict[str, Any]:
    job, secret = await jobs.update_job(
        ctx.db, tenant_id=t, job_id=JobId(job_id), changes=job_options(doc(body)), box=ctx.secrets
    )
    return _with_secret(render_job(job), secret, job)


@router.post(
    "/jobs/{job_id}/secrets",
    status_code=201,
    response_model=m.NewSecret,
    response_model_exclude_unset=True,
)
async def add_secret(
    job_id: uuid.UUID, t: Admin, ctx: Ctx, body: Annotated[m.SecretIn | None, Body()] = None
) -> dict[str, Any]:
    """Rotation, step 1: one more active secret (generated, or ``{"secret": ...}``);
    every delivery is signed with each active secret. Its value is shown once."""
    new = await jobs.add_secret(
        ctx.db, tenant_id=t, job_id=JobId(job_id), box=ctx.secrets, value=doc(body).get("secret")
    )
    return {"id": new.secret_id, "secret": new.value, "job": render_job(new.job)}


@router.delete("/jobs/{job_id}/secrets/{secret_id}", status_code=204)
async def remove_secret(job_id: uuid.UUID, secret_id: str, t: Admin, ctx: Ctx) -> Response:
    """Rotation, step 2: retire the old secret once the receiver uses the new one."""
    await jobs.remove_secret(ctx.db, tenant_id=t, job_id=JobId(job_id), secret_id=secret_id)
    return Response(status_code=204)


def _with_secret(document: dict[str, Any], secret: str | None, job: Job) -> dict[str, Any]:
    if secret is not None:
        document["secret"] = secret
        document["secret_id"] = job.secrets[-1].id
    return document

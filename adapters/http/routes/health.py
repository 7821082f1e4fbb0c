"""Probes of the process, answered without credentials and about no tenant: load
balancers and orchestrators ask them."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import PlainTextResponse

from adapters.http import models as m
from adapters.http.deps import PUBLIC, Ctx

router = APIRouter(tags=["health"], dependencies=[PUBLIC], responses=m.ERRORS)


@router.get("/health/live", response_model=m.Live, response_model_exclude_unset=True)
async def live() -> m.Live:
    """The process is up and serving."""
    return m.Live(status="live")


@router.get(
    "/health/ready",
    response_model=m.Ready,
    responses={503: {"model": m.Ready, "description": "a check failed; see its reason"}},
)
async def ready(response: Response, ctx: Ctx) -> m.Ready:
    """Postgres, NATS, migrations, leader and outbox lag, each with its detail;
    503 when one fails."""
    if ctx.readiness is None:
        return m.Ready(status="ready", checks={})
    ok, checks = await ctx.readiness.check()
    response.status_code = 200 if ok else 503
    return m.Ready(status="ready" if ok else "not ready", checks=dict(checks))


@router.get("/metrics", response_class=PlainTextResponse)
async def prometheus(ctx: Ctx) -> Response:
    """Prometheus exposition: fires, events by type, lateness, claims, deliveries,
    pool use, leader, queue depth by status and priority, outbox lag."""
    if ctx.metrics is None:
        return PlainTextResponse("")
    return Response(await ctx.metrics.render(ctx.system_db), media_type=ctx.metrics.content_type)

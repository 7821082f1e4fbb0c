"""One ``APIRouter`` per resource; ``ROUTERS`` is the order the app includes them in."""

from __future__ import annotations

from fastapi import APIRouter

from adapters.http.routes import (
    audit,
    backfills,
    calendars,
    health,
    jobs,
    replicas,
    runs,
    schedules,
    tzdata,
    workers,
)

ROUTERS: tuple[APIRouter, ...] = (
    health.router,
    audit.router,
    tzdata.router,
    replicas.router,
    jobs.router,
    schedules.router,
    backfills.router,
    calendars.router,
    runs.router,
    workers.router,
)

"""Per-tenant usage counts in memory."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from adapters.memory.tables import _Scoped
from domain.ids import SYSTEM_TENANT, TenantId
from domain.job import TargetKind
from domain.run import RunStatus
from domain.schedule import ScheduleState
from domain.usage import TenantUsage
from domain.worker import WorkerState


class MemoryUsage(_Scoped):
    async def usage(self, since: datetime) -> list[TenantUsage]:
        found: dict[TenantId, dict[str, Any]] = {}

        def row(tenant: TenantId) -> dict[str, Any]:
            return found.setdefault(tenant, {"ended": Counter()})

        def count(tenant: TenantId, key: str) -> None:
            r = row(tenant)
            r[key] = r.get(key, 0) + 1

        for (tenant, _), schedule in self._t.schedules.items():
            if self._visible(tenant) and not schedule.system:
                row(tenant)
                if schedule.state is not ScheduleState.DELETED:
                    count(tenant, "schedules")
                if schedule.state is ScheduleState.ENABLED:
                    count(tenant, "enabled")
        for (tenant, _), job in self._t.jobs.items():
            if self._visible(tenant) and job.target.kind is not TargetKind.SYSTEM:
                count(tenant, "jobs")
        for run in self._t.runs.values():
            if not self._visible(run.tenant_id):
                continue
            if run.status is RunStatus.RUNNING:
                count(run.tenant_id, "running")
            elif run.status in {RunStatus.SCHEDULED, RunStatus.PENDING}:
                count(run.tenant_id, "queued")
            elif run.status is RunStatus.WAITING:
                count(run.tenant_id, "waiting")
            elif run.updated_at >= since:
                row(run.tenant_id)["ended"][run.status.value] += 1
        for worker in self._t.workers.values():
            if self._visible(worker.tenant_id) and worker.state is not WorkerState.OFFLINE:
                count(worker.tenant_id, "workers")
        return [
            TenantUsage(tenant_id=tenant, **{**fields, "ended": dict(fields["ended"])})
            for tenant, fields in sorted(found.items())
            if tenant != SYSTEM_TENANT
        ]

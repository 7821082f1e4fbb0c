"""Jobs in memory."""

from __future__ import annotations

from datetime import datetime

from adapters.memory.tables import _page, _require_version, _Scoped
from adapters.postgres.codec import reloaded_job
from domain.errors import Conflict, NotFound
from domain.ids import JobId
from domain.job import Job
from domain.ports import Keyset


class MemoryJobs(_Scoped):
    def _find(self, job_id: JobId) -> Job | None:
        for (tenant, jid), job in self._t.jobs.items():
            if jid == job_id and self._visible(tenant):
                return job
        return None

    async def get(self, job_id: JobId) -> Job:
        found = self._find(job_id)
        if found is None:
            raise NotFound("job", str(job_id))
        return found

    def _name_taken(self, job: Job) -> bool:
        return any(
            j.name == job.name and j.id != job.id
            for (t, _), j in self._t.jobs.items()
            if t == job.tenant_id
        )

    async def add(self, job: Job) -> None:
        self._guard(job.tenant_id)
        if self._name_taken(job):
            raise Conflict(f"a job named {job.name!r} already exists", name=job.name)
        if (job.tenant_id, job.id) in self._t.jobs:
            raise Conflict(f"job {job.id} already exists", id=str(job.id))
        self._t.jobs[(job.tenant_id, job.id)] = reloaded_job(job)

    async def by_name(self, name: str) -> Job:
        for (tenant, _), job in self._t.jobs.items():
            if job.name == name and self._visible(tenant):
                return job
        raise NotFound("job", name)

    async def delete(self, job_id: JobId, *, now: datetime) -> None:
        job = await self.get(job_id)
        self._guard(job.tenant_id)
        del self._t.jobs[(job.tenant_id, job.id)]

    async def list(self, *, after: Keyset | None, limit: int) -> list[Job]:
        jobs = [j for (t, _), j in self._t.jobs.items() if self._visible(t)]
        return _page(jobs, lambda j: (j.created_at, j.id), after, limit)

    async def save(self, job: Job, *, expected_version: int) -> None:
        self._guard(job.tenant_id)
        current = await self.get(job.id)
        _require_version("job", job.id, current.version, expected_version)
        if self._name_taken(job):
            raise Conflict(f"a job named {job.name!r} already exists", name=job.name)
        self._t.jobs[(job.tenant_id, job.id)] = reloaded_job(job)

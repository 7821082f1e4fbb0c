"""Jobs on PostgreSQL."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from adapters.postgres.codec import job_document, job_from_document
from adapters.postgres.queries import sql
from adapters.postgres.writes import _guard, _stale_or_missing
from domain.errors import Conflict, NotFound
from domain.ids import JobId, TenantId
from domain.job import Job
from domain.ports import Keyset


class PgJobs:
    def __init__(self, conn: asyncpg.Connection, tenant_id: TenantId | None) -> None:
        self._conn = conn
        self._tenant = tenant_id

    async def get(self, job_id: JobId) -> Job:
        row = await self._conn.fetchrow(sql("get_job"), job_id)
        if row is None:
            raise NotFound("job", str(job_id))
        return self._from_row(row)

    @staticmethod
    def _from_row(row: asyncpg.Record) -> Job:
        return job_from_document(
            row["spec"],
            id=JobId(row["id"]),
            tenant_id=TenantId(row["tenant_id"]),
            name=row["name"],
            version=row["version"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    async def by_name(self, name: str) -> Job:
        row = await self._conn.fetchrow(sql("job_by_name"), name)
        if row is None:
            raise NotFound("job", name)
        return self._from_row(row)

    async def delete(self, job_id: JobId, *, now: datetime) -> None:
        status = await self._conn.execute(sql("delete_job"), job_id, now)
        if status == "UPDATE 0":
            raise NotFound("job", str(job_id))

    async def list(self, *, after: Keyset | None, limit: int) -> list[Job]:
        at, id = after or (None, None)
        rows = await self._conn.fetch(sql("list_jobs"), at, id, limit)
        return [self._from_row(row) for row in rows]

    async def add(self, job: Job) -> None:
        _guard(job.tenant_id, self._tenant)
        try:
            await self._conn.execute(
                sql("insert_job"),
                job.tenant_id,
                job.id,
                job.name,
                job_document(job),
                job.version,
                job.created_at,
                job.updated_at,
                job.target.kind.value,
                job.max_concurrency,
            )
        except asyncpg.UniqueViolationError:
            raise Conflict(f"a job named {job.name!r} already exists", name=job.name) from None

    async def save(self, job: Job, *, expected_version: int) -> None:
        try:
            _guard(job.tenant_id, self._tenant)
            status = await self._conn.execute(
                sql("update_job"),
                job.tenant_id,
                job.id,
                job.name,
                job_document(job),
                job.version,
                job.updated_at,
                expected_version,
                job.target.kind.value,
                job.max_concurrency,
            )
        except asyncpg.UniqueViolationError:
            raise Conflict(f"a job named {job.name!r} already exists", name=job.name) from None
        if status == "UPDATE 0":
            await _stale_or_missing(self._conn, "job_version", "job", job.id, expected_version)

"""Job use cases: create, revise, read, list."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from domain.errors import InvalidRequest
from domain.ids import JobId, TenantId, new_id
from domain.job import Job, Target, TargetKind
from domain.ports import Database, Keyset
from domain.triggers import EventTrigger

# Target kinds this build can deliver; QUEUE and HTTP land with their executors.
DELIVERABLE = frozenset({TargetKind.EVENT})


def check_target(target: Target) -> None:
    """Refuse targets that could never be delivered (their runs would wait forever)."""
    if target.kind not in DELIVERABLE:
        raise InvalidRequest(
            f"target kind {target.kind.value} is not available yet; use EVENT",
            field="target.kind",
        )
    unknown = sorted(set(target.config) - {"subject"})
    if unknown:
        raise InvalidRequest(f"unknown EVENT target field {unknown[0]!r}", field="target.config")
    subject = target.config.get("subject")
    if not isinstance(subject, str) or "*" in subject or ">" in subject:
        raise InvalidRequest(
            "EVENT target needs a subject without wildcards, e.g. 'reports.generate'",
            field="target.config.subject",
        )
    try:
        EventTrigger(subject=subject)  # the same token rules as event triggers
    except ValueError as exc:
        raise InvalidRequest(str(exc), field="target.config.subject") from None


async def create_job(
    db: Database, *, tenant_id: TenantId, name: str, target: Target, **options: Any
) -> Job:
    check_target(target)
    async with db.transaction(tenant_id) as tx:
        now = await tx.now()
        job = Job(
            id=JobId(new_id()),
            tenant_id=tenant_id,
            name=name,
            target=target,
            created_at=now,
            updated_at=now,
            **options,
        )
        await tx.jobs.add(job)
        return job


async def update_job(
    db: Database, *, tenant_id: TenantId, job_id: JobId, changes: Mapping[str, Any]
) -> Job:
    """Apply changes (a no-op change keeps the version). New runs pick up the new
    options; runs already materialised keep their attempts budget and priority."""
    if "target" in changes:
        check_target(changes["target"])
    async with db.transaction(tenant_id) as tx:
        job = await tx.jobs.get(job_id)
        if all(getattr(job, key) == value for key, value in changes.items()):
            return job
        revised = job.revise(now=await tx.now(), **changes)
        await tx.jobs.save(revised, expected_version=job.version)
        return revised


async def get_job(db: Database, *, tenant_id: TenantId, job_id: JobId) -> Job:
    async with db.transaction(tenant_id) as tx:
        return await tx.jobs.get(job_id)


async def list_jobs(
    db: Database, *, tenant_id: TenantId, after: Keyset | None, limit: int
) -> Sequence[Job]:
    async with db.transaction(tenant_id) as tx:
        return await tx.jobs.list(after=after, limit=limit)

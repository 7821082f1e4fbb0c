"""Job use cases: create, revise, read, list, and an HTTP target's signing secrets.

An HTTP job gets a Standard Webhooks secret (``whsec_`` + 32 random bytes) when it is
created. The plain value is answered once; what is stored is sealed with the operator's
key (``SecretBox``). Rotation: add a secret, move the receiver over, remove the old one;
while both are active every delivery carries both signatures.
"""

from __future__ import annotations

import base64
import secrets as random_secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import urlsplit

from domain.addresses import AddressPolicy
from domain.changes import Keep
from domain.errors import Conflict, InvalidRequest, NotFound, Unavailable
from domain.ids import JobId, TenantId, new_id
from domain.job import MAX_SECRETS, Job, SealedSecret, Target, TargetKind
from domain.ports import Database, Keyset, SecretBox
from domain.targets import HttpTarget
from service import telemetry
from service.usecases.commands import CreateJob, ReviseJob

SECRET_PREFIX = "whsec_"


def check_target(target: Target, addresses: AddressPolicy | None = None) -> None:
    """Refuse targets no worker of Kairos could deliver (their runs would wait forever).
    Each kind's config is checked by the domain when the Target is built. With the
    operator's ``addresses`` policy, an HTTP URL whose host the SSRF guard will refuse
    as written (a literal private or loopback address, ``localhost``) is refused now;
    a name is judged when it is resolved, at delivery."""
    if target.kind is TargetKind.SYSTEM:
        raise InvalidRequest("target.kind SYSTEM is reserved for Kairos", field="target.kind")
    if addresses is not None and target.kind is TargetKind.HTTP:
        host = urlsplit(HttpTarget.parse(target.config).url).hostname or ""
        why = addresses.host_refusal(host)
        if why is not None:
            raise InvalidRequest(
                f"target.config.url: the SSRF guard refuses {host}: {why}; an operator can "
                "allow it with KAIROS_HTTP_ALLOW",
                field="target.config.url",
            )


@dataclass(frozen=True, slots=True)
class NewSecret:
    job: Job
    secret_id: str
    value: str  # shown once


def new_secret_value() -> str:
    return SECRET_PREFIX + base64.b64encode(random_secrets.token_bytes(32)).decode()


def _valid_secret(value: str) -> str:
    """A secret brought by the caller (moving a receiver over): ``whsec_`` + base64 of
    24 to 64 bytes."""
    field = "secret"
    if not value.startswith(SECRET_PREFIX):
        raise InvalidRequest(f"secret must start with {SECRET_PREFIX!r}", field=field)
    try:
        raw = base64.b64decode(value[len(SECRET_PREFIX) :], validate=True)
    except ValueError:
        raise InvalidRequest("secret must be whsec_ followed by base64", field=field) from None
    if not 24 <= len(raw) <= 64:
        raise InvalidRequest("secret must hold 24 to 64 bytes", field=field)
    return value


def _seal(box: SecretBox | None, value: str, now: datetime) -> SealedSecret:
    if box is None:
        raise Unavailable(
            "HTTP targets need signing secrets, and no secret key is configured (KAIROS_SECRET_KEY)"
        )
    return SealedSecret(id=str(new_id()), sealed=box.seal(value), created_at=now)


async def create_job(
    db: Database,
    command: CreateJob,
    *,
    box: SecretBox | None = None,
    addresses: AddressPolicy | None = None,
) -> tuple[Job, str | None]:
    """The job, and for an HTTP target its first signing secret (shown once).
    ``addresses``: the SSRF guard's policy, to refuse a URL it will refuse anyway."""
    check_target(command.target, addresses)
    async with db.transaction(command.tenant_id) as tx:
        now = await tx.now()
        value = None
        sealed: tuple[SealedSecret, ...] = ()
        if command.target.kind is TargetKind.HTTP:
            value = new_secret_value()
            sealed = (_seal(box, value, now),)
        job = Job(
            id=JobId(new_id()),
            tenant_id=command.tenant_id,
            name=command.name,
            target=command.target,
            max_attempts=command.max_attempts,
            backoff=command.backoff,
            timeout=command.timeout,
            max_concurrency=command.max_concurrency,
            priority=command.priority,
            labels=dict(command.labels),
            secrets=sealed,
            created_at=now,
            updated_at=now,
        )
        await tx.jobs.add(job)
        return job, value


def _changes(job: Job, command: ReviseJob) -> bool:
    """Whether ``command`` changes anything of ``job``."""
    return any(
        not isinstance(new, Keep) and new != old
        for new, old in (
            (command.name, job.name),
            (command.target, job.target),
            (command.max_attempts, job.max_attempts),
            (command.backoff, job.backoff),
            (command.timeout, job.timeout),
            (command.max_concurrency, job.max_concurrency),
            (command.priority, job.priority),
            (command.labels, job.labels),
        )
    )


async def update_job(
    db: Database,
    command: ReviseJob,
    *,
    box: SecretBox | None = None,
    addresses: AddressPolicy | None = None,
) -> tuple[Job, str | None]:
    """Apply changes (a no-op change keeps the version). New runs pick up the new
    options; runs already materialised keep their attempts budget and priority. A job
    that becomes HTTP gets its first secret (answered once)."""
    if not isinstance(command.target, Keep):
        check_target(command.target, addresses)
    async with db.transaction(command.tenant_id) as tx:
        job = await tx.jobs.get(command.job_id)
        if not _changes(job, command):
            return job, None
        now = await tx.now()
        revised = job.revise(
            now=now,
            name=command.name,
            target=command.target,
            max_attempts=command.max_attempts,
            backoff=command.backoff,
            timeout=command.timeout,
            max_concurrency=command.max_concurrency,
            priority=command.priority,
            labels=command.labels,
        )
        value = None
        if revised.target.kind is TargetKind.HTTP and not revised.secrets:
            value = new_secret_value()
            revised = replace(revised, secrets=(_seal(box, value, now),))
        await tx.jobs.save(revised, expected_version=job.version)
        return revised, value


async def add_secret(
    db: Database,
    *,
    tenant_id: TenantId,
    job_id: JobId,
    box: SecretBox | None,
    value: str | None = None,
) -> NewSecret:
    """Start a rotation: one more active secret (generated, or the caller's own)."""
    plain = new_secret_value() if value is None else _valid_secret(value)
    async with db.transaction(tenant_id) as tx:
        job = await tx.jobs.get(job_id)
        if job.target.kind is not TargetKind.HTTP:
            raise InvalidRequest("only HTTP targets have signing secrets", field="target.kind")
        if len(job.secrets) >= MAX_SECRETS:
            raise Conflict(
                f"{MAX_SECRETS} secrets are active; remove one first", secrets=len(job.secrets)
            )
        now = await tx.now()
        sealed = _seal(box, plain, now)
        revised = job.revise(now=now, secrets=(*job.secrets, sealed))
        await tx.jobs.save(revised, expected_version=job.version)
        return NewSecret(revised, sealed.id, plain)


async def remove_secret(db: Database, *, tenant_id: TenantId, job_id: JobId, secret_id: str) -> Job:
    """End a rotation: the receiver verifies with the new secret now."""
    async with db.transaction(tenant_id) as tx:
        job = await tx.jobs.get(job_id)
        kept = tuple(s for s in job.secrets if s.id != secret_id)
        if len(kept) == len(job.secrets):
            raise NotFound("secret", secret_id)
        if not kept:
            raise Conflict("the last signing secret cannot be removed; add its successor first")
        revised = job.revise(now=await tx.now(), secrets=kept)
        await tx.jobs.save(revised, expected_version=job.version)
        return revised


async def delete_job(db: Database, *, tenant_id: TenantId, job_id: JobId) -> Job:
    """Delete a job and its signing secrets; refused (``Conflict`` naming them) while
    live schedules run it. Its runs stay readable; ``scheduler.job.deleted`` is emitted."""
    async with db.transaction(tenant_id) as tx:
        job = await tx.jobs.get(job_id)
        users = await tx.schedules.using_job(job_id)
        if users:
            shown = ", ".join(users[:10]) + (" ..." if len(users) > 10 else "")
            raise Conflict(
                f"job {job.name} is used by {len(users)} schedule(s): {shown}; "
                "delete them or move them to another job first",
                schedules=list(users),
            )
        now = await tx.now()
        await tx.jobs.delete(job_id, now=now)
        await tx.outbox.append([job.deleted(now=now)], traceparent=telemetry.current_traceparent())
        return job


async def get_job(db: Database, *, tenant_id: TenantId, job_id: JobId) -> Job:
    async with db.transaction(tenant_id) as tx:
        return await tx.jobs.get(job_id)


async def list_jobs(
    db: Database, *, tenant_id: TenantId, after: Keyset | None, limit: int
) -> Sequence[Job]:
    async with db.transaction(tenant_id) as tx:
        return await tx.jobs.list(after=after, limit=limit)


async def jobs_named(db: Database, *, tenant_id: TenantId, name: str) -> Sequence[Job]:
    """The tenant's job called exactly ``name`` (none or one: names are unique)."""
    async with db.transaction(tenant_id) as tx:
        try:
            return [await tx.jobs.by_name(name)]
        except NotFound:
            return []

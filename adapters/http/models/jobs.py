"""Jobs as the API answers them."""

from __future__ import annotations

from pydantic import Field

from adapters.http.models.fields import (
    Id,
    Instant,
    Json,
    PriorityName,
    _example,
    _Out,
)
from domain import job as domain_job
from domain.durations import format_duration
from domain.job import Backoff


class TargetOut(_Out):
    kind: str
    config: Json


class BackoffOut(_Out):
    kind: str
    initial: str
    multiplier: float
    max: str

    @classmethod
    def from_domain(cls, backoff: Backoff) -> BackoffOut:
        return cls(
            kind=backoff.kind.value,
            initial=format_duration(backoff.initial),
            multiplier=backoff.multiplier,
            max=format_duration(backoff.max),
        )


class SecretRef(_Out):
    id: str
    created_at: Instant


class Job(_Out):
    model_config = _example("Job")
    id: Id
    name: str
    target: TargetOut
    max_attempts: int
    backoff: BackoffOut
    timeout: str
    max_concurrency: int | None
    priority: PriorityName
    secrets: list[SecretRef]
    disabled: str | None
    labels: dict[str, str] = Field(default_factory=dict)
    version: int
    created_at: Instant
    updated_at: Instant
    secret: str | None = Field(
        default=None, description="an HTTP job's new signing secret: shown this once"
    )
    secret_id: str | None = None

    @classmethod
    def from_domain(cls, job: domain_job.Job, *, secret: str | None = None) -> Job:
        """A job; ``secret``: its new signing secret, answered this once."""
        extra = {} if secret is None else {"secret": secret, "secret_id": job.secrets[-1].id}
        return cls(
            id=str(job.id),
            name=job.name,
            target=TargetOut(kind=job.target.kind.value, config=dict(job.target.config)),
            max_attempts=job.max_attempts,
            backoff=BackoffOut.from_domain(job.backoff),
            timeout=format_duration(job.timeout),
            max_concurrency=job.max_concurrency,
            priority=job.priority.name.lower(),
            # Never the values: they are shown once, when created.
            secrets=[SecretRef(id=s.id, created_at=s.created_at.isoformat()) for s in job.secrets],
            disabled=job.disabled,
            labels=dict(job.labels),
            version=job.version,
            created_at=job.created_at.isoformat(),
            updated_at=job.updated_at.isoformat(),
            **extra,
        )


class NewSecret(_Out):
    id: str
    secret: str
    job: Job


class JobPage(_Out):
    items: list[Job]
    next_cursor: str | None

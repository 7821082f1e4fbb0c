"""The Job entity: what a run executes, and how it is retried, limited and prioritised."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from domain.changes import KEEP, Keep, kept
from domain.errors import InvalidRequest
from domain.events import DomainEvent, EventType
from domain.ids import JobId, TenantId
from domain.targets import check_config


class Priority(enum.IntEnum):
    LOW = 0
    NORMAL = 1
    HIGH = 2
    CRITICAL = 3


class BackoffKind(enum.StrEnum):
    FIXED = "fixed"
    EXPONENTIAL = "exponential"


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    kind: BackoffKind = BackoffKind.EXPONENTIAL
    initial: timedelta = timedelta(seconds=1)
    multiplier: float = 2.0
    max: timedelta = timedelta(minutes=5)

    def __post_init__(self) -> None:
        if self.initial <= timedelta(0):
            raise InvalidRequest("backoff.initial must be positive", field="backoff.initial")
        if self.multiplier < 1:
            raise InvalidRequest("backoff.multiplier must be >= 1", field="backoff.multiplier")
        if self.max < self.initial:
            raise InvalidRequest("backoff.max must be >= initial", field="backoff.max")

    def delay(self, attempt: int, unit: float) -> timedelta:
        """Delay before retrying after failed attempt number ``attempt`` (1-based).

        Full jitter: ``unit`` in [0, 1) (the caller's randomness) scales the ceiling.
        """
        if attempt < 1:
            raise ValueError("attempt is 1-based")
        if not 0.0 <= unit < 1.0:
            raise ValueError("unit must be in [0, 1)")
        if self.kind is BackoffKind.FIXED:
            ceiling = self.initial
        else:
            ceiling = min(self.max, self.initial * self.multiplier ** (attempt - 1))
        return ceiling * unit


class TargetKind(enum.StrEnum):
    EVENT = "EVENT"
    QUEUE = "QUEUE"
    HTTP = "HTTP"
    # Run by an external worker (the SDK) that declares the job's ``type`` as a capability.
    WORKER = "WORKER"
    SYSTEM = "SYSTEM"  # Kairos' own tasks (retention), run by the scheduler's pool only


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """Where a run is delivered; ``config`` is checked per kind (``domain.targets``)."""

    kind: TargetKind
    config: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_config(self.kind.value, self.config)

    @property
    def capability(self) -> str:
        """What a worker must declare to claim this target's runs: the kind, or for
        ``WORKER`` the job's type."""
        if self.kind is TargetKind.WORKER:
            return str(self.config["type"])
        return self.kind.value


@dataclass(frozen=True, slots=True, kw_only=True)
class SealedSecret:
    """A signing secret as stored: encrypted with the operator's key (``SecretBox``).
    The plain value is shown once, when it is created, and never kept in the clear."""

    id: str
    sealed: str
    created_at: datetime


MAX_SECRETS = 5  # active at once, during a rotation


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    id: JobId
    tenant_id: TenantId
    name: str
    target: Target
    max_attempts: int = 3
    backoff: Backoff = field(default_factory=Backoff)
    timeout: timedelta = timedelta(minutes=5)
    max_concurrency: int | None = None
    priority: Priority = Priority.NORMAL
    # HTTP: the signing secrets in force (several during a rotation); newest last.
    secrets: tuple[SealedSecret, ...] = ()
    # Set when the target answered 410 Gone: its runs fail at once until the target
    # is changed (a PATCH of ``target`` clears it).
    disabled: str | None = None
    # The caller's own key/value marks (``kairos apply`` marks what it created).
    labels: Mapping[str, str] = field(default_factory=dict)
    version: int = 1
    created_at: datetime
    updated_at: datetime

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise InvalidRequest("job name is required", field="name")
        if self.max_attempts < 1:
            raise InvalidRequest("max_attempts must be at least 1", field="max_attempts")
        if self.timeout <= timedelta(0):
            raise InvalidRequest("timeout must be positive", field="timeout")
        if self.max_concurrency is not None and self.max_concurrency < 1:
            raise InvalidRequest("max_concurrency must be at least 1", field="max_concurrency")

        if len(self.secrets) > MAX_SECRETS:
            raise InvalidRequest(
                f"at most {MAX_SECRETS} signing secrets can be active", field="secrets"
            )

    @property
    def capability(self) -> str:
        return self.target.capability

    def revise(
        self,
        *,
        now: datetime,
        name: str | Keep = KEEP,
        target: Target | Keep = KEEP,
        max_attempts: int | Keep = KEEP,
        backoff: Backoff | Keep = KEEP,
        timeout: timedelta | Keep = KEEP,
        max_concurrency: int | Keep | None = KEEP,
        priority: Priority | Keep = KEEP,
        secrets: tuple[SealedSecret, ...] | Keep = KEEP,
        labels: Mapping[str, str] | Keep = KEEP,
    ) -> Job:
        """A new version with the fields given changed; a new target is a fresh start
        (it clears ``disabled``)."""
        return replace(
            self,
            name=kept(name, self.name),
            target=kept(target, self.target),
            max_attempts=kept(max_attempts, self.max_attempts),
            backoff=kept(backoff, self.backoff),
            timeout=kept(timeout, self.timeout),
            max_concurrency=kept(max_concurrency, self.max_concurrency),
            priority=kept(priority, self.priority),
            secrets=kept(secrets, self.secrets),
            labels=kept(labels, self.labels),
            disabled=self.disabled if isinstance(target, Keep) else None,
            version=self.version + 1,
            updated_at=now,
        )

    def deleted(self, *, now: datetime) -> DomainEvent:
        """The event of the job's deletion (its id, name and target kind; no secret)."""
        return DomainEvent.of(
            EventType.JOB_DELETED,
            tenant_id=self.tenant_id,
            aggregate_id=self.id,
            revision=self.version + 1,
            occurred_at=now,
            data={"job_id": str(self.id), "name": self.name, "target_kind": self.target.kind.value},
        )

    def disable(self, *, reason: str, now: datetime) -> Job:
        """The target is gone (HTTP 410): stop delivering until it is changed."""
        return replace(self, disabled=reason, version=self.version + 1, updated_at=now)

"""The Job entity: what a run executes, and how it is retried, limited and prioritised."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from domain.errors import InvalidRequest
from domain.ids import JobId, TenantId


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
    SYSTEM = "SYSTEM"  # Kairos' own tasks (retention), run by the scheduler's pool only


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """Where a run is delivered. ``config`` is validated per kind by later issues."""

    kind: TargetKind
    config: dict[str, Any] = field(default_factory=dict)


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

    def revise(self, *, now: datetime, **changes: Any) -> Job:
        if {"id", "tenant_id", "created_at", "version"} & set(changes):
            raise InvalidRequest("identity fields cannot change", fields=sorted(changes))
        return replace(self, **changes, version=self.version + 1, updated_at=now)

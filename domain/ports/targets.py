"""Delivering a run's attempt to its target, and sealing the targets' signing secrets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from domain.job import Job
from domain.run import Run


class SecretBox(Protocol):
    """Seals signing secrets with the operator's key, so none is stored in the clear."""

    def seal(self, plain: str) -> str: ...

    def open(self, sealed: str) -> str: ...


class TargetExecutor(Protocol):
    async def execute(self, run: Run, job: Job) -> Mapping[str, Any] | None:
        """Deliver one attempt of ``run``; answers what the target said (kept on the
        attempt: HTTP status, latency, a truncated body), or None.

        Raises ``ExecutionFailed`` (retryable, may carry ``retry_after``, its
        ``details["response"]`` kept on the attempt) or ``TargetGone`` (HTTP 410: disable
        the target); ``TimeoutError`` on timeout.
        """
        ...


@runtime_checkable
class BatchTargetExecutor(TargetExecutor, Protocol):
    """A target that delivers many attempts at once (the EVENT target publishes a batch
    and waits for one flush instead of one per run)."""

    async def execute_many(self, items: Sequence[tuple[Run, Job]]) -> list[Exception | None]:
        """One outcome per item, in order: None delivered, else the exception that
        ``execute`` would have raised for it."""
        ...


@runtime_checkable
class InstantTarget(Protocol):
    """A broker target the materialiser publishes to itself, on the instant path
    (docs/semantics.md, *Instant delivery*): messages are prepared ahead of their
    dispatch instant, sent at it, and count only once the broker acknowledged them."""

    @property
    def available(self) -> bool:
        """Whether sending could succeed now (the broker connection is up)."""
        ...

    def prepare(self, items: Sequence[tuple[Run, Job]]) -> list[object | Exception]:
        """Each item's message, ready to send, or the error that keeps it from being
        sent (it then goes through a lease, where that error is recorded)."""
        ...

    async def send(self, messages: Sequence[object]) -> list[str | None]:
        """Publish prepared messages in order; one answer each: None once acknowledged,
        else why not."""
        ...

"""The EVENT target: publish a run's payload to a subject in the tenant's namespace.

Namespace: ``t.<tenant>.<subject>`` (a NATS account can grant a tenant ``t.<tenant>.>``).
Headers carry the run's identity; ``Nats-Msg-Id`` is the run id, so a subject captured by
a JetStream stream stores a retried run once.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from nats.aio.client import Client
from nats.errors import Error as NatsError

from adapters import jsonfast
from domain.errors import DomainError, ExecutionFailed
from domain.job import Job
from domain.run import Run
from domain.triggers import EventTrigger
from service import telemetry


def tenant_subject(tenant_id: str, subject: str) -> str:
    return f"t.{tenant_id}.{subject}"


class EventTarget:
    def __init__(self, nc: Client, *, flush_timeout: int = 5) -> None:
        self._nc = nc
        self._flush_timeout = flush_timeout

    async def execute(self, run: Run, job: Job) -> None:
        outcome = (await self.execute_many([(run, job)]))[0]
        if outcome is not None:
            raise outcome

    async def execute_many(self, items: Sequence[tuple[Run, Job]]) -> list[Exception | None]:
        """Publish every run's message, then one flush: delivered once the server has
        them all (a failed flush fails every run of the batch; each is retried)."""
        outcomes: list[Exception | None] = []
        try:
            for run, job in items:
                try:
                    subject, body, headers = _message(run, job)
                except DomainError as exc:  # a bad subject fails this run only
                    outcomes.append(exc)
                    continue
                await self._nc.publish(subject, body, headers=headers)
                outcomes.append(None)
            await self._nc.flush(timeout=self._flush_timeout)
        except (NatsError, OSError, TimeoutError) as exc:
            failed = ExecutionFailed(f"publish failed: {exc}")
            return [failed] * len(items)
        return outcomes


def run_message(run: Run) -> tuple[bytes, dict[str, str]]:
    """A run as a NATS message (EVENT and QUEUE targets): its context as the body, its
    identity in headers, ``Nats-Msg-Id`` = run id (a retried attempt is stored once)."""
    body = {
        "run_id": str(run.id),
        "schedule_id": str(run.schedule_id),
        "job_id": str(run.job_id),
        "nominal_at": run.nominal_at.isoformat(),
        "attempt": run.attempt,
        "payload": dict(run.payload),
    }
    headers = {
        "Nats-Msg-Id": str(run.id),
        "Kairos-Run-Id": str(run.id),
        "Kairos-Schedule-Id": str(run.schedule_id),
        "Kairos-Attempt": str(run.attempt),
    }
    telemetry.inject(headers)  # traceparent of the delivery, when traced
    return jsonfast.dumps(body), headers


def _message(run: Run, job: Job) -> tuple[str, bytes, dict[str, str]]:
    subject = job.target.config.get("subject")
    if not isinstance(subject, str):
        raise ExecutionFailed("EVENT target has no subject", job_id=str(job.id))
    _valid_subject(subject)
    body, headers = run_message(run)
    return tenant_subject(run.tenant_id, subject), body, headers


@lru_cache(maxsize=1024)
def _valid_subject(subject: str) -> None:
    """Tokens are checked once per distinct subject; wildcards are refused."""
    EventTrigger(subject=subject)
    if "*" in subject or ">" in subject:
        raise ExecutionFailed("EVENT target subject must not contain wildcards")

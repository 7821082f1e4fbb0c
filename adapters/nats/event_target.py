"""The EVENT target: publish a run's payload to a subject in the tenant's namespace.

Namespace: ``t.<tenant>.<subject>`` (a NATS account can grant a tenant ``t.<tenant>.>``).
Headers carry the run's identity; ``Nats-Msg-Id`` is the run id, so a subject captured by
a JetStream stream stores a retried run once.
"""

from __future__ import annotations

from nats.aio.client import Client
from nats.errors import Error as NatsError

from adapters import jsonfast
from domain.errors import ExecutionFailed
from domain.job import Job
from domain.run import Run
from domain.triggers import EventTrigger


def tenant_subject(tenant_id: str, subject: str) -> str:
    return f"t.{tenant_id}.{subject}"


class EventTarget:
    def __init__(self, nc: Client, *, flush_timeout: int = 5) -> None:
        self._nc = nc
        self._flush_timeout = flush_timeout

    async def execute(self, run: Run, job: Job) -> None:
        subject = job.target.config.get("subject")
        if not isinstance(subject, str):
            raise ExecutionFailed("EVENT target has no subject", job_id=str(job.id))
        EventTrigger(subject=subject)  # validates tokens; wildcards are refused below
        if "*" in subject or ">" in subject:
            raise ExecutionFailed("EVENT target subject must not contain wildcards")
        body = {
            "run_id": str(run.id),
            "schedule_id": str(run.schedule_id),
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
        try:
            await self._nc.publish(
                tenant_subject(run.tenant_id, subject),
                jsonfast.dumps(body),
                headers=headers,
            )
            await self._nc.flush(timeout=self._flush_timeout)
        except (NatsError, OSError, TimeoutError) as exc:
            raise ExecutionFailed(f"publish failed: {exc}") from exc

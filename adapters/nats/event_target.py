"""The EVENT target: publish a run's payload to a subject in the tenant's namespace.

Namespace: ``t.<tenant>.<subject>`` (a NATS account can grant a tenant ``t.<tenant>.>``).
Headers carry the run's identity; ``Nats-Msg-Id`` is the run id.

An attempt succeeds only once JetStream acknowledged the message: the stream
``KAIROS_INBOUND`` captures ``t.>`` (see ``event_consumer``; created here too if
missing), keeps each message ``MAX_AGE`` (7 days) and stores a retried run once within
its duplicate window (10 minutes). Core-NATS subscribers of the subject still receive
the message (a stream captures, it does not consume). While the client is disconnected
nothing is published and the attempt fails (it is retried): a message in nats-py's
reconnect buffer has not been delivered, and ``flush()`` returns at once then.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from nats.aio.client import Client
from nats.errors import Error as NatsError

from adapters import jsonfast
from adapters.nats.acks import NOT_CONNECTED, AckedPublisher, Message
from adapters.nats.event_consumer import ensure_stream
from domain.errors import BrokerUnavailable, DomainError, ExecutionFailed
from domain.job import Job
from domain.run import Run
from domain.triggers import EventTrigger
from service import telemetry


def tenant_subject(tenant_id: str, subject: str) -> str:
    return f"t.{tenant_id}.{subject}"


class EventTarget:
    def __init__(self, nc: Client, *, ack_timeout: float = 5.0) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self._acks = AckedPublisher(nc, ack_timeout=ack_timeout)
        self._stream_ready = False

    async def execute(self, run: Run, job: Job) -> None:
        outcome = (await self.execute_many([(run, job)]))[0]
        if outcome is not None:
            raise outcome

    async def execute_many(self, items: Sequence[tuple[Run, Job]]) -> list[Exception | None]:
        """Publish every run's message (pipelined); each run is delivered once the
        stream acknowledged its message, else it fails (and is retried). The lease
        path's form of ``prepare`` + ``send``: answers become the attempts' errors."""
        prepared = self.prepare(items)
        outcomes: list[Exception | None] = [
            message if isinstance(message, Exception) else None for message in prepared
        ]
        indexes = [i for i, message in enumerate(prepared) if not isinstance(message, Exception)]
        if not indexes:
            return outcomes
        answers = await self.send([prepared[i] for i in indexes])
        for i, answer in zip(indexes, answers, strict=True):
            if answer is not None:
                outcomes[i] = _failure(answer)
        return outcomes

    # -- the instant path (``domain.ports.InstantTarget``) ---------------------------------

    @property
    def available(self) -> bool:
        return bool(self._nc.is_connected)

    def prepare(self, items: Sequence[tuple[Run, Job]]) -> list[object | Exception]:
        prepared: list[object | Exception] = []
        for run, job in items:
            try:
                prepared.append(_message(run, job))
            except DomainError as exc:
                prepared.append(exc)
        return prepared

    async def send(self, messages: Sequence[object]) -> list[str | None]:
        try:
            await self._ensure_stream()
        except (NatsError, OSError, TimeoutError) as exc:
            return [f"{_NO_STREAM}{type(exc).__name__}"] * len(messages)
        try:
            answers = await self._acks.publish([_as_message(m) for m in messages])
        except (NatsError, OSError, TimeoutError) as exc:
            return [f"publish failed: {type(exc).__name__} {exc}".strip()] * len(messages)
        if any(answer is not None and "no stream" in answer for answer in answers):
            self._stream_ready = False  # deleted behind our back: recreate it
        return answers

    async def _ensure_stream(self) -> None:
        if not self._stream_ready:
            if not self._nc.is_connected:
                raise OSError("NATS is not connected")
            await ensure_stream(self._js)
            self._stream_ready = True


def run_message(run: Run) -> tuple[bytes, dict[str, str]]:
    """A run as a NATS message (EVENT and QUEUE targets): its context as the body, its
    identity in headers, ``Nats-Msg-Id`` = run id (a retried attempt is stored once)."""
    run_id, schedule_id = str(run.id), str(run.schedule_id)
    body = {
        "run_id": run_id,
        "schedule_id": schedule_id,
        "job_id": str(run.job_id),
        "nominal_at": run.nominal_at.isoformat(),
        "attempt": run.attempt,
        "payload": dict(run.payload),
    }
    headers = {
        "Nats-Msg-Id": run_id,
        "Kairos-Run-Id": run_id,
        "Kairos-Schedule-Id": schedule_id,
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


_NO_STREAM = "the event stream: "  # answer prefix: the stream could not be made sure of


def _failure(answer: str) -> Exception:
    """An answer that is not an acknowledgement, as the attempt's error: the broker
    away (not counted against the run) or the message refused."""
    if answer.startswith(_NO_STREAM):
        return BrokerUnavailable(f"publish failed: {answer}")
    unavailable = answer == NOT_CONNECTED or answer.startswith("no acknowledgement")
    kind = BrokerUnavailable if unavailable else ExecutionFailed
    return kind(f"publish not acknowledged: {answer}")


def _as_message(prepared: object) -> Message:
    """A message ``prepare`` made: (subject, body, headers)."""
    assert isinstance(prepared, tuple)
    assert len(prepared) == 3
    return prepared

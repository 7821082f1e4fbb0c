"""The QUEUE target (docs/semantics.md, *Targets*): push a run onto its tenant's
JetStream work queue.

Each tenant has one work-queue stream, ``KAIROS_Q_<tenant>`` over ``q.<tenant>.>``,
created on first use with the operator's limits (``QueueLimits``). A job's
``queue`` names the subject inside it (``q.<tenant>.<queue>``); consumers of the
tenant pull from it and each message is delivered to one of them. ``Nats-Msg-Id`` is the
run id, so a retried attempt is stored once (within the stream's duplicate window). The
attempt succeeds when the stream acknowledges the message; the ack (stream, sequence,
duplicate) is kept on the attempt. While NATS is disconnected nothing is sent: the
attempt fails and is retried.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NoStreamResponseError

from adapters.nats import streams
from adapters.nats.acks import AckedPublisher, Message
from adapters.nats.event_target import run_message
from domain.errors import BrokerUnavailable, DomainError, ExecutionFailed
from domain.job import Job
from domain.run import Run
from domain.targets import queue_name


@dataclass(frozen=True, slots=True)
class QueueLimits:
    """Per-tenant work-queue stream limits (``KAIROS_QUEUE_MAX_MSGS|BYTES|AGE``)."""

    max_msgs: int = 1_000_000
    max_bytes: int = 1024**3
    max_age: timedelta = timedelta(days=7)
    duplicate_window: timedelta = timedelta(minutes=10)


def stream_name(tenant_id: str) -> str:
    return f"KAIROS_Q_{tenant_id}"


def queue_subject(tenant_id: str, queue: str) -> str:
    return f"q.{tenant_id}.{queue}"


class QueueTarget:
    def __init__(
        self, nc: Client, limits: QueueLimits | None = None, *, ack_timeout: float = 5.0
    ) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self._limits = limits or QueueLimits()
        self._ack_timeout = ack_timeout
        self._ready: set[str] = set()
        self._acks = AckedPublisher(nc, ack_timeout=ack_timeout)

    async def ensure_stream(self, tenant_id: str) -> str:
        name = stream_name(tenant_id)
        if name in self._ready:
            return name
        config = StreamConfig(
            name=name,
            subjects=[f"q.{tenant_id}.>"],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            discard=DiscardPolicy.NEW,  # a full queue refuses, it never drops work
            max_msgs=self._limits.max_msgs,
            max_bytes=self._limits.max_bytes,
            max_age=self._limits.max_age.total_seconds(),
            duplicate_window=self._limits.duplicate_window.total_seconds(),
        )
        await streams.ensure(self._js, config)
        self._ready.add(name)
        return name

    async def execute(self, run: Run, job: Job) -> Mapping[str, Any] | None:
        subject = queue_subject(run.tenant_id, queue_name(job.target.config))
        if not self._nc.is_connected:
            # Not into nats-py's reconnect buffer: a copy there would reach the queue
            # after this attempt was already recorded failed (and maybe dead).
            raise BrokerUnavailable(f"queue {subject}: NATS is not connected; nothing was sent")
        body, headers = run_message(run)
        try:
            stream = await self.ensure_stream(run.tenant_id)
            try:
                ack = await self._js.publish(
                    subject,
                    body,
                    timeout=self._ack_timeout,
                    stream=stream,
                    headers=headers,
                )
            except NoStreamResponseError:
                self._ready.discard(stream)  # deleted behind our back: recreate next time
                raise
        except (NatsError, OSError, TimeoutError) as exc:
            raise ExecutionFailed(
                f"queue {subject} did not acknowledge: {type(exc).__name__} {exc}".strip()
            ) from None
        return {"stream": ack.stream, "seq": ack.seq, "duplicate": bool(ack.duplicate)}

    # -- the instant path (``domain.ports.InstantTarget``) ---------------------------------

    @property
    def available(self) -> bool:
        return bool(self._nc.is_connected)

    def prepare(self, items: Sequence[tuple[Run, Job]]) -> list[object | Exception]:
        prepared: list[object | Exception] = []
        for run, job in items:
            try:
                subject = queue_subject(run.tenant_id, queue_name(job.target.config))
            except DomainError as exc:
                prepared.append(exc)
                continue
            body, headers = run_message(run)
            prepared.append((run.tenant_id, (subject, body, headers)))
        return prepared

    async def send(self, messages: Sequence[object]) -> list[str | None]:
        """Each tenant's queue stream is made sure of first (created on first use)."""
        answers: list[str | None] = [None] * len(messages)
        sendable: list[Message] = []
        sent: list[tuple[int, str]] = []  # (index, tenant) of each message sent
        for i, prepared in enumerate(messages):
            tenant, message = _queued(prepared)
            try:
                await self.ensure_stream(tenant)
            except (NatsError, OSError, TimeoutError) as exc:
                answers[i] = f"queue stream of {tenant}: {type(exc).__name__} {exc}".strip()
                continue
            sendable.append(message)
            sent.append((i, tenant))
        try:
            published = await self._acks.publish(sendable)
        except (NatsError, OSError, TimeoutError) as exc:
            published = [f"publish failed: {type(exc).__name__} {exc}".strip()] * len(sendable)
        for (i, tenant), answer in zip(sent, published, strict=True):
            answers[i] = answer
            if answer is not None and "no stream" in answer:
                self._ready.discard(stream_name(tenant))  # deleted behind our back
        return answers


def _queued(prepared: object) -> tuple[str, Message]:
    """A message ``prepare`` made: (tenant, (subject, body, headers))."""
    assert isinstance(prepared, tuple)
    assert len(prepared) == 2
    tenant, message = prepared
    assert isinstance(tenant, str)
    assert isinstance(message, tuple)
    return tenant, message

"""Publish domain events to the JetStream stream, deduplicated by event id."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from nats.aio.client import Client
from nats.js.api import StreamConfig

from adapters.nats import streams
from adapters.nats.acks import AckedPublisher
from adapters.nats.cloudevents import encode
from domain.events import DomainEvent
from domain.ports import EncodedEvent

STREAM = "KAIROS_EVENTS"
# Inbound `scheduler.trigger.<tenant>` is request/reply and must not be captured by the
# stream (JetStream would answer the request with a PubAck), so list the event families.
SUBJECTS = ["scheduler.schedule.>", "scheduler.job.>", "scheduler.run.>", "scheduler.worker.>"]


class JetStreamPublisher:
    def __init__(
        self,
        nc: Client,
        *,
        stream: str = STREAM,
        duplicate_window: timedelta = timedelta(minutes=10),
        ack_timeout: float = 5.0,
    ) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self._stream = stream
        self._window = duplicate_window
        self._acks = AckedPublisher(nc, ack_timeout=ack_timeout)

    async def ensure_stream(self) -> None:
        """Create the stream if missing (idempotent)."""
        config = StreamConfig(
            name=self._stream,
            subjects=SUBJECTS,
            duplicate_window=self._window.total_seconds(),
        )
        await streams.ensure(self._js, config)

    async def publish_many(self, events: Sequence[DomainEvent]) -> int:
        """Publish in order (pipelined); returns how many *leading* events were acked.

        Only an acknowledged prefix counts, so a failure mid-batch never lets a later
        event of an aggregate overtake an earlier one. Nothing is sent while NATS is
        disconnected (``AckedPublisher``): the events wait in the outbox, not in the
        client's reconnect buffer.
        """
        answers = await self._acks.publish(
            [(event.subject, encode(event), _headers(event)) for event in events]
        )
        return _first_refused(answers)

    async def publish_encoded(self, events: Sequence[EncodedEvent]) -> int:
        """``publish_many`` for outbox rows kept encoded: their bytes go out as they are."""
        answers = await self._acks.publish(
            [(event.subject, event.body, _encoded_headers(event)) for event in events]
        )
        return _first_refused(answers)


def _first_refused(answers: Sequence[str | None]) -> int:
    for i, answer in enumerate(answers):
        if answer is not None:
            return i
    return len(answers)


def _encoded_headers(event: EncodedEvent) -> dict[str, str]:
    headers = {"Nats-Msg-Id": str(event.id)}
    if event.traceparent:
        headers["traceparent"] = event.traceparent
    return headers


def _headers(event: DomainEvent) -> dict[str, str]:
    """Dedupe by event id; the trace context, as a header too, for consumers that read
    it there rather than from the CloudEvent."""
    headers = {"Nats-Msg-Id": str(event.id)}
    if event.traceparent:
        headers["traceparent"] = event.traceparent
    return headers

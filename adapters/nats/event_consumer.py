"""Inbound events for EVENT-triggered schedules, through a durable JetStream consumer.

The stream ``KAIROS_INBOUND`` captures ``t.>`` (tenants' namespaces; Kairos' own EVENT
targets publish there too, so a schedule can follow another's output). Messages that
arrive while every replica is down wait in the stream; the durable pull consumer
``kairos-event-triggers`` is shared by all replicas, so each message is handled once
(a redelivery after a crash finds the runs it already made: run ids derive from the
message). A message is acknowledged only after its runs are committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, timedelta

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig
from nats.js.client import JetStreamContext

from adapters.nats import streams
from domain.errors import DomainError, StorageError
from domain.ports import Database
from service import telemetry
from service.loops.resilience import Loops, supervise
from service.usecases.event_triggers import Message, listened, on_message

log = logging.getLogger("kairos.inbound")

STREAM = "KAIROS_INBOUND"
SUBJECTS = ["t.>", "in.>"]  # in.<tenant>.>: from tenant accounts (deploy/nats)
DURABLE = "kairos-event-triggers"
# How long a message stays in the stream (EVENT targets' deliveries included), and the
# window in which a republished message id (a retried run) is stored once.
MAX_AGE = timedelta(days=7)
DUPLICATE_WINDOW = timedelta(minutes=10)


async def ensure_stream(js: JetStreamContext, max_age: timedelta = MAX_AGE) -> None:
    """``KAIROS_INBOUND`` over the tenants' namespaces (idempotent; every process that
    publishes or consumes there brings it to the same configuration)."""
    config = StreamConfig(
        name=STREAM,
        subjects=SUBJECTS,
        max_age=max_age.total_seconds(),
        duplicate_window=DUPLICATE_WINDOW.total_seconds(),
    )
    await streams.ensure(js, config)


class EventTriggerConsumer:
    def __init__(
        self,
        nc: Client,
        db: Database,
        *,
        max_age: timedelta = MAX_AGE,
        batch: int = 100,
        loops: Loops | None = None,
    ) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self._db = db
        self._max_age = max_age
        self._batch = batch
        self._loops = loops

    async def ensure(self) -> None:
        """The stream and the durable consumer (idempotent)."""
        await ensure_stream(self._js, self._max_age)
        await self._js.add_consumer(
            STREAM,
            ConsumerConfig(durable_name=DURABLE, ack_policy=AckPolicy.EXPLICIT, ack_wait=30),
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop``; a lost database or NATS connection is waited out with
        backoff (the messages stay in the stream), never fatal to the process."""
        await supervise(
            "event consumer", lambda: self._consume(stop), stop, loops=self._loops, logger=log
        )

    async def _consume(self, stop: asyncio.Event) -> None:
        await self.ensure()
        sub = await self._js.pull_subscribe_bind(DURABLE, STREAM)
        try:
            while not stop.is_set():
                try:
                    msgs = await sub.fetch(self._batch, timeout=1)
                except TimeoutError:  # nats' own, or asyncio's when the server is busy
                    continue
                messages = [_message(msg) for msg in msgs]
                wanted = await listened(self._db, messages)  # unacked on failure: redelivered
                for msg, message, listens in zip(msgs, messages, wanted, strict=True):
                    if listens:
                        await self._handle(msg, message)
                    else:
                        await msg.ack()  # no schedule listens to it
        finally:
            with contextlib.suppress(NatsError, OSError):
                await sub.unsubscribe()

    async def _handle(self, msg: Msg, message: Message) -> None:
        try:
            # An event's fire continues the publisher's trace (a traceparent header).
            with telemetry.span(
                "event fire",
                parent=message.headers.get("traceparent"),
                root=True,
                attributes={"messaging.destination": msg.subject},
            ):
                await on_message(self._db, message)
        except DomainError as exc:  # a malformed tenant or the like: it will never fit
            log.warning("event on %s dropped: %s", msg.subject, exc)
        except (OSError, StorageError) as exc:  # an outage, a lock timeout: try again later
            log.warning("event on %s not handled yet: %s", msg.subject, exc)
            await msg.nak(delay=1)
            return
        await msg.ack()


def _message(msg: Msg) -> Message:
    stamp = msg.metadata.timestamp
    received = stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
    return Message(
        subject=msg.subject,
        body=msg.data,
        headers=dict(msg.headers or {}),
        received_at=received.astimezone(UTC),
    )

"""Pipelined JetStream publishing that counts a message only once its stream acked it.

Each message carries a reply subject ``<inbox>.<batch>.<index>``; one standing
subscription tallies the stream's answers by index. That is nats-py's
``publish_async`` without a future, a semaphore task and a decoded ``PubAck`` per
message: the per-message cost in a burst (the relay, a batch of EVENT runs).

Nothing is published while the client is not connected: nats-py would keep the
messages in its reconnect buffer, and ``flush()`` returns at once then, so a message
that never reached the server would look sent. Refused here, it is retried by its
caller (the outbox keeps an event, a run attempt fails and is retried), and the
``Nats-Msg-Id`` dedupes the copy that a disconnect in mid-batch may still deliver.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import Error as NatsError

from adapters import jsonfast

Message = tuple[str, bytes, dict[str, str]]  # subject, body, headers

NOT_CONNECTED = "NATS is not connected; nothing was published"


class AckedPublisher:
    def __init__(self, nc: Client, *, ack_timeout: float = 5.0) -> None:
        self._nc = nc
        self._ack_timeout = ack_timeout
        self._acks: Subscription | None = None
        self._prefix = ""
        self._batch = 0
        self._batches: dict[int, _Batch] = {}

    async def publish(self, messages: Sequence[Message]) -> list[str | None]:
        """Publish in order; one answer per message: None once the stream acked it
        (a duplicate too), else why not (refused, a stream error, no answer in time)."""
        if not messages:
            return []
        if not self._nc.is_connected:
            return [NOT_CONNECTED] * len(messages)
        if self._acks is None:
            self._prefix = f"{self._nc.new_inbox()}.acks"
            self._acks = await self._nc.subscribe(f"{self._prefix}.>", cb=self._on_ack)
        self._batch += 1
        number, batch = self._batch, _Batch(len(messages))
        self._batches[number] = batch
        reply = f"{self._prefix}.{number}."
        sent, failure = 0, ""
        try:
            for i, (subject, body, headers) in enumerate(messages):
                if not self._nc.is_connected:  # lost mid-batch: keep the rest out of the buffer
                    failure = NOT_CONNECTED
                    break
                await self._nc.publish(subject, body, reply=f"{reply}{i}", headers=headers)
                sent += 1
            await self._nc.flush(timeout=max(1, int(self._ack_timeout)))
        except (TimeoutError, NatsError, OSError) as exc:
            failure = f"publish failed: {type(exc).__name__} {exc}".strip()
        try:
            if sent:
                batch.expect(sent)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(batch.complete.wait(), self._ack_timeout)
            return batch.results(sent, failure, self._ack_timeout)
        finally:
            del self._batches[number]

    async def _on_ack(self, msg: Msg) -> None:
        batch_no, _, index = msg.subject[len(self._prefix) + 1 :].partition(".")
        batch = self._batches.get(int(batch_no))
        if batch is None:
            return  # a late ack of a batch already given up on
        batch.answer(int(index), _refusal(msg))


def _refusal(msg: Msg) -> str | None:
    """None for a PubAck (a duplicate's too), else why the stream did not store it."""
    data = msg.data
    if b'"seq"' in data and b'"error"' not in data:  # the hot path: no JSON decoding
        return None
    if not data:  # a status message: 503 no responders (no stream captures the subject)
        status = (msg.headers or {}).get("Status", "")
        return "no stream captures the subject" if status == "503" else f"status {status}"
    try:
        error = jsonfast.loads(data).get("error", {})
        return str(error.get("description") or error) or "refused"
    except (ValueError, AttributeError):
        return "unreadable answer"


class _Batch:
    """Answers of one published batch, by index; ``complete`` once every one came."""

    __slots__ = ("answered", "complete", "expected", "refusals", "seen", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self.seen = bytearray(size)
        self.refusals: dict[int, str] = {}
        self.answered = 0
        self.expected: int | None = None
        self.complete = asyncio.Event()

    def expect(self, sent: int) -> None:
        self.expected = sent
        if self.answered >= sent:
            self.complete.set()

    def answer(self, index: int, refusal: str | None) -> None:
        if 0 <= index < self.size and not self.seen[index]:
            self.seen[index] = 1
            if refusal is not None:
                self.refusals[index] = refusal
            self.answered += 1
            if self.expected is not None and self.answered >= self.expected:
                self.complete.set()

    def results(self, sent: int, failure: str, timeout: float) -> list[str | None]:
        late = f"no acknowledgement within {timeout:g} s"
        out: list[str | None] = []
        for i in range(self.size):
            if i >= sent:
                out.append(failure or NOT_CONNECTED)
            elif not self.seen[i]:
                out.append(late)
            else:
                out.append(self.refusals.get(i))
        return out

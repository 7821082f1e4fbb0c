"""A recording EventPublisher for unit tests; it can be told to go down mid-batch."""

from __future__ import annotations

from collections.abc import Sequence

from domain.events import DomainEvent


class RecordingPublisher:
    def __init__(self) -> None:
        self.stream: list[DomainEvent] = []
        self._seen: set[object] = set()
        self.accept: int | None = None  # None: up; n: ack n more events, then fail

    async def publish_many(self, events: Sequence[DomainEvent]) -> int:
        acked = 0
        for event in events:
            if self.accept is not None:
                if self.accept <= 0:
                    break
                self.accept -= 1
            if event.id not in self._seen:  # JetStream's Nats-Msg-Id dedupe
                self._seen.add(event.id)
                self.stream.append(event)
            acked += 1
        return acked

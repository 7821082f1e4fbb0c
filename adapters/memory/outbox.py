"""The outbox in memory: committed events in commit order, and the relay's mark."""

from __future__ import annotations

from collections.abc import Sequence

from adapters.memory.tables import _Scoped
from domain.events import DomainEvent, traced
from domain.partitions import event_key, partition_of
from domain.ports import OutboxRecord


class MemoryOutbox(_Scoped):
    async def count(self) -> int:
        return len(self._t.outbox) - len(self._t.published)

    async def append(self, events: Sequence[DomainEvent], *, traceparent: str | None) -> None:
        events = traced(events, traceparent)
        for event in events:
            if self._tenant is not None and event.tenant_id != self._tenant:
                raise ValueError(f"event {event.id} belongs to tenant {event.tenant_id}")
        for event in events:
            if event.id not in self._t.event_ids:
                self._t.event_ids.add(event.id)
                self._t.outbox.append(event)

    async def pending(
        self, limit: int, partitions: Sequence[int] | None = None
    ) -> list[OutboxRecord]:
        chosen = None if partitions is None else set(partitions)
        found: list[OutboxRecord] = []
        for i, event in enumerate(self._t.outbox):
            if len(found) >= limit:
                break
            if i + 1 in self._t.published:
                continue
            if chosen is None or partition_of(event_key(event), self._t.partitions) in chosen:
                found.append(OutboxRecord(seq=i + 1, event=event))
        return found

    async def mark_published(self, seqs: Sequence[int]) -> None:
        self._t.published.update(seqs)

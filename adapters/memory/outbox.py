"""The outbox in memory: committed events in commit order, and the relay's mark."""

from __future__ import annotations

from collections.abc import Sequence

from adapters.memory.tables import _Scoped
from domain.events import DomainEvent, traced
from domain.ports import OutboxRecord


class MemoryOutbox(_Scoped):
    async def count(self) -> int:
        return len(await self.pending(1_000_000))

    async def append(self, events: Sequence[DomainEvent], *, traceparent: str | None) -> None:
        events = traced(events, traceparent)
        for event in events:
            if self._tenant is not None and event.tenant_id != self._tenant:
                raise ValueError(f"event {event.id} belongs to tenant {event.tenant_id}")
        for event in events:
            if event.id not in self._t.event_ids:
                self._t.event_ids.add(event.id)
                self._t.outbox.append(event)

    async def pending(self, limit: int) -> list[OutboxRecord]:
        start = self._t.published
        return [
            OutboxRecord(seq=start + i + 1, event=e)
            for i, e in enumerate(self._t.outbox[start : start + limit])
        ]

    async def mark_published(self, seqs: Sequence[int]) -> None:
        if seqs:
            self._t.published = max(self._t.published, *seqs)

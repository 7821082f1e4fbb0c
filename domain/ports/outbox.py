"""The way of an event out: the outbox a unit of work appends to, and the publisher the
relay hands its rows to."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from domain.events import DomainEvent
from domain.ids import EventId


class EventOutbox(Protocol):
    async def append(self, events: Sequence[DomainEvent], *, traceparent: str | None) -> None:
        """Store events in the current unit of work (same transaction as the change),
        those without a trace context given ``traceparent`` (the caller's: the request,
        fire or delivery that made them; None: no trace).

        Appending an event whose id is already stored is a no-op (ids are derived from
        the decision, so a retried decision does not duplicate its events).
        """
        ...

    async def pending(
        self, limit: int, partitions: Sequence[int] | None = None
    ) -> Sequence[OutboxRecord]:
        """Unpublished events (of ``partitions``; None: of every partition) in commit
        order, locked for this (system) transaction."""
        ...

    async def mark_published(self, seqs: Sequence[int]) -> None: ...

    async def count(self) -> int:
        """Events not yet relayed."""
        ...


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    seq: int
    event: DomainEvent


class EventPublisher(Protocol):
    async def publish_many(self, events: Sequence[DomainEvent]) -> int:
        """Publish in order with ``Nats-Msg-Id`` = event id; returns how many leading
        events the stream acknowledged (fewer than given means an outage)."""
        ...


@dataclass(frozen=True, slots=True)
class EncodedEvent:
    """An outbox row as the relay forwards it: the event already in the form the stream
    stores, written by the transaction that made the change."""

    seq: int
    id: EventId
    type: str
    subject: str
    body: bytes
    traceparent: str | None = None


@runtime_checkable
class EncodedOutbox(Protocol):
    """An outbox that keeps its events encoded: the relay forwards them as they are."""

    async def pending_encoded(
        self, limit: int, partitions: Sequence[int] | None = None
    ) -> Sequence[EncodedEvent]:
        """``pending``, each event in its stored form."""
        ...


@runtime_checkable
class EncodedPublisher(Protocol):
    async def publish_encoded(self, events: Sequence[EncodedEvent]) -> int:
        """``publish_many`` for events already encoded."""
        ...

"""The Worker entity: a process that claims and executes runs (SEMANTICS 10)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from domain.errors import InvalidRequest
from domain.events import DomainEvent, EventType
from domain.ids import TenantId, WorkerId

DEFAULT_HEARTBEAT = timedelta(seconds=5)
MISSED_HEARTBEATS_OFFLINE = 3
# Heartbeat events are sampled (SEMANTICS 11): one per this many beats (a minute at 5 s).
HEARTBEAT_EVENT_EVERY = 12


class WorkerState(enum.StrEnum):
    ONLINE = "online"
    DRAINING = "draining"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True, kw_only=True)
class Worker:
    id: WorkerId
    tenant_id: TenantId
    name: str
    capabilities: frozenset[str]
    capacity: int = 1
    version: str = ""
    heartbeat_interval: timedelta = DEFAULT_HEARTBEAT
    state: WorkerState = WorkerState.ONLINE
    registered_at: datetime
    last_heartbeat_at: datetime
    beats: int = 0

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise InvalidRequest("worker name is required", field="name")
        if self.capacity < 1:
            raise InvalidRequest("capacity must be at least 1", field="capacity")
        if self.heartbeat_interval <= timedelta(0):
            raise InvalidRequest("heartbeat_interval must be positive", field="heartbeat_interval")

    @classmethod
    def register(cls, *, now: datetime, **fields: object) -> tuple[Worker, list[DomainEvent]]:
        worker = cls(registered_at=now, last_heartbeat_at=now, **fields)  # type: ignore[arg-type]
        return worker, [worker._event(EventType.WORKER_REGISTERED, now)]

    def heartbeat(self, *, now: datetime) -> tuple[Worker, list[DomainEvent]]:
        """A sign of life. Every ``HEARTBEAT_EVENT_EVERY``-th beat, and a beat that
        brings an offline worker back, emits ``scheduler.worker.heartbeat``."""
        returning = self.state is WorkerState.OFFLINE
        state = WorkerState.ONLINE if returning else self.state
        beat = replace(self, last_heartbeat_at=now, state=state, beats=self.beats + 1)
        if returning or beat.beats % HEARTBEAT_EVENT_EVERY == 0:
            return beat, [beat._event(EventType.WORKER_HEARTBEAT, now)]
        return beat, []

    def drain(self) -> Worker:
        return replace(self, state=WorkerState.DRAINING)

    def silent(self, now: datetime) -> bool:
        """True once ``MISSED_HEARTBEATS_OFFLINE`` heartbeats were missed."""
        return now - self.last_heartbeat_at > self.heartbeat_interval * MISSED_HEARTBEATS_OFFLINE

    def mark_offline(self, *, now: datetime) -> tuple[Worker, list[DomainEvent]]:
        if self.state is WorkerState.OFFLINE or not self.silent(now):
            return self, []
        gone = replace(self, state=WorkerState.OFFLINE)
        return gone, [gone._event(EventType.WORKER_OFFLINE, now)]

    def stop(self, *, now: datetime) -> tuple[Worker, list[DomainEvent]]:
        """A clean shutdown: offline at once, without waiting for missed heartbeats."""
        if self.state is WorkerState.OFFLINE:
            return self, []
        gone = replace(self, state=WorkerState.OFFLINE, last_heartbeat_at=now)
        return gone, [gone._event(EventType.WORKER_OFFLINE, now)]

    def can_run(self, capability: str) -> bool:
        return capability in self.capabilities

    def _event(self, type: EventType, now: datetime) -> DomainEvent:
        return DomainEvent.of(
            type,
            tenant_id=self.tenant_id,
            aggregate_id=self.id,
            revision=f"{self.beats}|{self.state.value}",
            occurred_at=now,
            data={
                "worker_id": str(self.id),
                "name": self.name,
                "state": self.state.value,
                "capabilities": sorted(self.capabilities),
                "capacity": self.capacity,
            },
        )

"""The Worker entity: a process that claims and executes runs (docs/semantics.md, *Workers*)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from domain.errors import InvalidRequest
from domain.events import DomainEvent, EventType
from domain.ids import TenantId, WorkerId

DEFAULT_HEARTBEAT = timedelta(seconds=5)
MISSED_HEARTBEATS_OFFLINE = 3
# Heartbeat events are sampled (docs/semantics.md, *Events*): one per this many beats (a
# minute at 5 s).
HEARTBEAT_EVENT_EVERY = 12
MAX_CAPACITY = 10_000
MAX_CAPABILITIES = 100
MAX_LABELS = 50


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
    labels: Mapping[str, str] = field(default_factory=dict)
    heartbeat_interval: timedelta = DEFAULT_HEARTBEAT
    state: WorkerState = WorkerState.ONLINE
    registered_at: datetime
    last_heartbeat_at: datetime
    beats: int = 0

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise InvalidRequest("worker name is required", field="name")
        if not 1 <= self.capacity <= MAX_CAPACITY:
            raise InvalidRequest(f"capacity must be 1..{MAX_CAPACITY}", field="capacity")
        if not self.capabilities or len(self.capabilities) > MAX_CAPABILITIES:
            raise InvalidRequest(
                f"capabilities must list 1..{MAX_CAPABILITIES} job types or target kinds",
                field="capabilities",
            )
        for capability in self.capabilities:
            if not isinstance(capability, str) or not 0 < len(capability) <= 200:
                raise InvalidRequest("a capability is a non-empty string", field="capabilities")
        if len(self.labels) > MAX_LABELS or not all(
            isinstance(k, str) and isinstance(v, str) and len(k) <= 100 and len(v) <= 500
            for k, v in self.labels.items()
        ):
            raise InvalidRequest(
                f"labels must be at most {MAX_LABELS} string pairs", field="labels"
            )
        if len(self.name) > 200 or len(self.version) > 100:
            raise InvalidRequest("name (200) or version (100) too long", field="name")
        if self.heartbeat_interval <= timedelta(0):
            raise InvalidRequest("heartbeat_interval must be positive", field="heartbeat_interval")

    @classmethod
    def register(cls, *, now: datetime, **fields: object) -> tuple[Worker, list[DomainEvent]]:
        worker = cls(registered_at=now, last_heartbeat_at=now, **fields)  # type: ignore[arg-type]
        return worker, [worker._event(EventType.WORKER_REGISTERED, now)]

    def heartbeat(self, *, now: datetime) -> tuple[Worker, list[DomainEvent]]:
        """A sign of life. Every ``HEARTBEAT_EVENT_EVERY``-th beat, and a beat that
        brings an offline worker back, emits ``scheduler.worker.heartbeat``. A draining
        worker stays draining."""
        returning = self.state is WorkerState.OFFLINE
        state = WorkerState.ONLINE if returning else self.state
        beat = replace(self, last_heartbeat_at=now, state=state, beats=self.beats + 1)
        if returning or beat.beats % HEARTBEAT_EVENT_EVERY == 0:
            return beat, [beat._event(EventType.WORKER_HEARTBEAT, now)]
        return beat, []

    def drain(self) -> Worker:
        """Told to finish what it holds and take nothing more (``POST .../drain``)."""
        if self.state is WorkerState.OFFLINE:
            return self
        return replace(self, state=WorkerState.DRAINING)

    @property
    def takes_work(self) -> bool:
        return self.state is WorkerState.ONLINE

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
            # The registration is part of the identity: a pool that registers the same
            # worker id again (after a restart) starts a new series of event ids.
            revision=f"{self.registered_at.isoformat()}|{self.beats}|{self.state.value}",
            occurred_at=now,
            data={
                "worker_id": str(self.id),
                "name": self.name,
                "state": self.state.value,
                "capabilities": sorted(self.capabilities),
                "capacity": self.capacity,
            },
        )

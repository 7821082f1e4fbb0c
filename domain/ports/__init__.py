"""Ports: what the application needs from the outside world, as structural Protocols.

Adapters (``adapters/postgres``, ``adapters/nats``, ``adapters/memory``...) satisfy them
without inheriting. Each docstring says what the method raises.

The ports live in modules by role (``repositories``, ``runs``, ``leadership``,
``outbox``, ``database``, ``targets``, ``environment``); every name is re-exported here,
so ``from domain.ports import X`` is how the rest of the code imports them.
"""

from __future__ import annotations

from domain.ports.database import Database, UnitOfWork
from domain.ports.environment import Change, ChangeFeed, Clock, HolidayProvider
from domain.ports.leadership import (
    LEADER,
    LeaderLease,
    LeaderPresence,
    LeaseState,
    Member,
    NamedLease,
)
from domain.ports.outbox import (
    EncodedEvent,
    EncodedOutbox,
    EncodedPublisher,
    EventOutbox,
    EventPublisher,
    OutboxRecord,
)
from domain.ports.repositories import (
    AuditLog,
    BackfillRepository,
    CalendarRepository,
    JobRepository,
    Keyset,
    ScheduleOrder,
    ScheduleRepository,
    ScheduleSearch,
    UsageReader,
    WorkerRepository,
    ZoneRulesLedger,
)
from domain.ports.runs import Claimable, RunFilter, RunQueue, RunStats
from domain.ports.targets import BatchTargetExecutor, InstantTarget, SecretBox, TargetExecutor

__all__ = [
    "LEADER",
    "AuditLog",
    "BackfillRepository",
    "BatchTargetExecutor",
    "CalendarRepository",
    "Change",
    "ChangeFeed",
    "Claimable",
    "Clock",
    "Database",
    "EncodedEvent",
    "EncodedOutbox",
    "EncodedPublisher",
    "EventOutbox",
    "EventPublisher",
    "HolidayProvider",
    "InstantTarget",
    "JobRepository",
    "Keyset",
    "LeaderLease",
    "LeaderPresence",
    "LeaseState",
    "Member",
    "NamedLease",
    "OutboxRecord",
    "RunFilter",
    "RunQueue",
    "RunStats",
    "ScheduleOrder",
    "ScheduleRepository",
    "ScheduleSearch",
    "SecretBox",
    "TargetExecutor",
    "UnitOfWork",
    "UsageReader",
    "WorkerRepository",
    "ZoneRulesLedger",
]

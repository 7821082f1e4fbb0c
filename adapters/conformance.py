"""Static proof that every adapter satisfies its port.

Nothing calls this; ``mypy --strict`` (part of ``make test``) checks the assignments, so
an adapter that drifts from its Protocol fails the build instead of a deployment.
"""

from __future__ import annotations

from adapters.clock import SystemClock
from adapters.holiday_sources import LibraryHolidayProvider
from adapters.memory.clock import FakeClock
from adapters.memory.database import MemoryDatabase
from adapters.memory.publisher import RecordingPublisher
from adapters.nats.event_target import EventTarget
from adapters.nats.publisher import JetStreamPublisher
from adapters.postgres.database import PostgresDatabase
from adapters.postgres.notifications import PostgresChangeFeed
from domain.ports import (
    ChangeFeed,
    Clock,
    Database,
    EventPublisher,
    HolidayProvider,
    TargetExecutor,
)


def _conforms(
    *,
    postgres: PostgresDatabase,
    memory: MemoryDatabase,
    jetstream: JetStreamPublisher,
    recording: RecordingPublisher,
    event_target: EventTarget,
    system_clock: SystemClock,
    fake_clock: FakeClock,
    holidays: LibraryHolidayProvider,
    change_feed: PostgresChangeFeed,
) -> None:
    databases: list[Database] = [postgres, memory]
    publishers: list[EventPublisher] = [jetstream, recording]
    executors: list[TargetExecutor] = [event_target]
    clocks: list[Clock] = [system_clock, fake_clock]
    holiday_providers: list[HolidayProvider] = [holidays]
    feeds: list[ChangeFeed] = [change_feed]
    del databases, publishers, executors, clocks, holiday_providers, feeds

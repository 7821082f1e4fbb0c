"""The Schedule aggregate: a job fired by a timing, with its operational policies."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from domain.changes import KEEP, Keep, kept
from domain.errors import InvalidSchedule, InvalidTransition
from domain.events import DomainEvent, EventType
from domain.ids import JobId, ScheduleId, TenantId
from domain.timing import Timing

_NAME_MAX = 200
DEFAULT_CATCHUP_WINDOW = timedelta(hours=24)
# Missed fires recorded one by one per catch-up, at most (older ones go in a summary).
MAX_CATCHUP = 10_000


class ScheduleState(enum.StrEnum):
    ENABLED = "enabled"
    PAUSED = "paused"
    COMPLETED = "completed"
    DELETED = "deleted"


class MisfirePolicy(enum.StrEnum):
    RUN_ONCE = "run_once"
    RUN_ALL = "run_all"
    SKIP = "skip"


class OverlapPolicy(enum.StrEnum):
    SKIP = "skip"
    BUFFER_ONE = "buffer_one"
    BUFFER_ALL = "buffer_all"
    REPLACE = "replace"
    ALLOW = "allow"


MAX_UPSTREAMS = 20


@dataclass(frozen=True, slots=True, kw_only=True)
class Schedule:
    id: ScheduleId
    tenant_id: TenantId
    name: str
    job_id: JobId
    timing: Timing
    payload: Mapping[str, Any] = field(default_factory=dict)
    misfire_policy: MisfirePolicy = MisfirePolicy.RUN_ONCE
    catchup_window: timedelta = DEFAULT_CATCHUP_WINDOW
    max_catchup: int = 100
    overlap_policy: OverlapPolicy = OverlapPolicy.SKIP
    max_buffered: int = 100
    # Upstream schedules whose run for the same period must succeed first
    # (docs/semantics.md, *Run lifecycle*; the period rule is in ``domain.dependencies``).
    depends_on: tuple[ScheduleId, ...] = ()
    # The caller's own key/value marks (``kairos apply`` marks what it created).
    labels: Mapping[str, str] = field(default_factory=dict)
    state: ScheduleState = ScheduleState.ENABLED
    # Why Kairos itself paused it (a target gone, a stored form it cannot plan), if so.
    state_reason: str | None = None
    next_fire_at: datetime | None = None
    fire_count: int = 0
    system: bool = False
    version: int = 1
    created_at: datetime
    updated_at: datetime

    def __post_init__(self) -> None:
        if not self.name.strip() or len(self.name) > _NAME_MAX:
            raise InvalidSchedule("name", f"1 to {_NAME_MAX} characters")
        if self.catchup_window < timedelta(0):
            raise InvalidSchedule("catchup_window", "must not be negative")
        if not 1 <= self.max_catchup <= MAX_CATCHUP:
            raise InvalidSchedule("max_catchup", f"must be between 1 and {MAX_CATCHUP}")
        if self.max_buffered < 1:
            raise InvalidSchedule("max_buffered", "must be at least 1")
        if self.fire_count < 0:
            raise InvalidSchedule("fire_count", "must not be negative")
        if self.id in self.depends_on:
            raise InvalidSchedule("depends_on", "a schedule cannot depend on itself")
        if len(set(self.depends_on)) != len(self.depends_on):
            raise InvalidSchedule("depends_on", "an upstream is named twice")
        if len(self.depends_on) > MAX_UPSTREAMS:
            raise InvalidSchedule("depends_on", f"at most {MAX_UPSTREAMS} upstream schedules")

    # -- lifecycle ------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        *,
        now: datetime,
        id: ScheduleId,
        tenant_id: TenantId,
        name: str,
        job_id: JobId,
        timing: Timing,
        payload: Mapping[str, Any] | None = None,
        misfire_policy: MisfirePolicy = MisfirePolicy.RUN_ONCE,
        catchup_window: timedelta = DEFAULT_CATCHUP_WINDOW,
        max_catchup: int = 100,
        overlap_policy: OverlapPolicy = OverlapPolicy.SKIP,
        max_buffered: int = 100,
        depends_on: tuple[ScheduleId, ...] = (),
        next_fire_at: datetime | None = None,
        system: bool = False,
        labels: Mapping[str, str] | None = None,
    ) -> tuple[Schedule, list[DomainEvent]]:
        schedule = cls(
            id=id,
            tenant_id=tenant_id,
            name=name,
            job_id=job_id,
            timing=timing,
            payload=dict(payload or {}),
            misfire_policy=misfire_policy,
            catchup_window=catchup_window,
            max_catchup=max_catchup,
            overlap_policy=overlap_policy,
            max_buffered=max_buffered,
            labels=dict(labels or {}),
            depends_on=depends_on,
            next_fire_at=next_fire_at,
            system=system,
            created_at=now,
            updated_at=now,
        )
        return schedule, [schedule._event(EventType.SCHEDULE_CREATED, now)]

    def update(
        self,
        *,
        now: datetime,
        name: str | Keep = KEEP,
        job_id: JobId | Keep = KEEP,
        timing: Timing | Keep = KEEP,
        payload: Mapping[str, Any] | Keep = KEEP,
        misfire_policy: MisfirePolicy | Keep = KEEP,
        catchup_window: timedelta | Keep = KEEP,
        max_catchup: int | Keep = KEEP,
        overlap_policy: OverlapPolicy | Keep = KEEP,
        max_buffered: int | Keep = KEEP,
        depends_on: tuple[ScheduleId, ...] | Keep = KEEP,
        labels: Mapping[str, str] | Keep = KEEP,
    ) -> tuple[Schedule, list[DomainEvent]]:
        """A new version with the fields given changed (identity, state and bookkeeping
        are not among them)."""
        self._require_not({ScheduleState.DELETED}, "updated")
        updated = replace(
            self,
            name=kept(name, self.name),
            job_id=kept(job_id, self.job_id),
            timing=kept(timing, self.timing),
            payload=kept(payload, self.payload),
            misfire_policy=kept(misfire_policy, self.misfire_policy),
            catchup_window=kept(catchup_window, self.catchup_window),
            max_catchup=kept(max_catchup, self.max_catchup),
            overlap_policy=kept(overlap_policy, self.overlap_policy),
            max_buffered=kept(max_buffered, self.max_buffered),
            depends_on=kept(depends_on, self.depends_on),
            labels=kept(labels, self.labels),
            version=self.version + 1,
            updated_at=now,
        )
        return updated, [updated._event(EventType.SCHEDULE_UPDATED, now)]

    def pause(
        self, *, now: datetime, reason: str | None = None
    ) -> tuple[Schedule, list[DomainEvent]]:
        """Stop firing. ``reason`` (in the event) when Kairos pauses it itself, e.g.
        ``TARGET_GONE`` when its job's HTTP target answered 410."""
        if self.state is ScheduleState.PAUSED:
            return self, []
        self._require_not({ScheduleState.DELETED, ScheduleState.COMPLETED}, "paused")
        paused = replace(self._moved(ScheduleState.PAUSED, now), state_reason=reason)
        event = paused._event(EventType.SCHEDULE_DISABLED, now)
        if reason is not None:
            event = event.with_data(reason=reason)
        return paused, [event]

    def resume(self, *, now: datetime) -> tuple[Schedule, list[DomainEvent]]:
        if self.state is ScheduleState.ENABLED:
            return self, []
        self._require_not({ScheduleState.DELETED, ScheduleState.COMPLETED}, "resumed")
        resumed = replace(self._moved(ScheduleState.ENABLED, now), state_reason=None)
        return resumed, [resumed._event(EventType.SCHEDULE_ENABLED, now)]

    def complete(self, *, now: datetime, dispatched: int = 0) -> tuple[Schedule, list[DomainEvent]]:
        """No fire left; ``dispatched``: its last fires, materialised with this change."""
        if dispatched < 0:
            raise ValueError("dispatched must not be negative")
        if self.state is ScheduleState.COMPLETED:
            return self, []
        self._require_not({ScheduleState.DELETED}, "completed")
        done = replace(
            self,
            state=ScheduleState.COMPLETED,
            version=self.version + 1,
            updated_at=now,
            next_fire_at=None,
            fire_count=self.fire_count + dispatched,
        )
        return done, [done._event(EventType.SCHEDULE_COMPLETED, now)]

    def delete(self, *, now: datetime) -> tuple[Schedule, list[DomainEvent]]:
        if self.state is ScheduleState.DELETED:
            return self, []
        gone = replace(self._moved(ScheduleState.DELETED, now), next_fire_at=None)
        return gone, [gone._event(EventType.SCHEDULE_DELETED, now)]

    def advance(self, *, next_fire_at: datetime | None, dispatched: int, now: datetime) -> Schedule:
        """Record materialised fires: ``dispatched`` more fires, next nominal fire time."""
        if dispatched < 0:
            raise ValueError("dispatched must not be negative")
        return replace(
            self,
            next_fire_at=next_fire_at,
            fire_count=self.fire_count + dispatched,
            updated_at=now,
        )

    def replan(
        self, *, next_fire_at: datetime, now: datetime, reason: str, **data: Any
    ) -> tuple[Schedule, list[DomainEvent]]:
        """A new next fire decided by Kairos, not by an update (zone rules changed):
        a new version, and ``scheduler.schedule.updated`` carrying ``reason`` and
        ``data`` (what changed, from what to what)."""
        moved = replace(self, next_fire_at=next_fire_at, version=self.version + 1, updated_at=now)
        event = moved._event(EventType.SCHEDULE_UPDATED, now).with_data(
            reason=reason,
            old_next_fire_at=_iso(self.next_fire_at),
            new_next_fire_at=_iso(next_fire_at),
            **data,
        )
        return moved, [event]

    # -- helpers --------------------------------------------------------------------------

    def _moved(self, state: ScheduleState, now: datetime) -> Schedule:
        return replace(self, state=state, version=self.version + 1, updated_at=now)

    def _require_not(self, states: set[ScheduleState], verb: str) -> None:
        if self.state in states:
            raise InvalidTransition("schedule", str(self.id), self.state.value, verb)

    def _event(self, type: EventType, now: datetime) -> DomainEvent:
        return DomainEvent.of(
            type,
            tenant_id=self.tenant_id,
            aggregate_id=self.id,
            revision=self.version,
            occurred_at=now,
            data={
                "schedule_id": str(self.id),
                "name": self.name,
                "state": self.state.value,
                "version": self.version,
                "trigger": self.timing.trigger.to_spec(),
                "timezone": self.timing.timezone,
            },
        )


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()

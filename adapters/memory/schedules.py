"""Schedules in memory."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from adapters.memory.tables import _page, _require_version, _Scoped
from adapters.postgres.codec import reloaded_schedule
from domain.errors import Conflict, NotFound
from domain.ids import JobId, ScheduleId
from domain.partitions import partition_of
from domain.ports import Keyset, ScheduleOrder, ScheduleSearch
from domain.schedule import Schedule, ScheduleState
from domain.triggers import EventTrigger


class MemorySchedules(_Scoped):
    def _live_name_taken(self, schedule: Schedule) -> bool:
        return schedule.state is not ScheduleState.DELETED and any(
            s.name == schedule.name and s.id != schedule.id and s.state is not ScheduleState.DELETED
            for (t, _), s in self._t.schedules.items()
            if t == schedule.tenant_id
        )

    async def event_schedules(self) -> list[Schedule]:
        return [
            s
            for (t, _), s in self._t.schedules.items()
            if self._visible(t)
            and s.state is ScheduleState.ENABLED
            and isinstance(s.timing.trigger, EventTrigger)
        ]

    async def get(self, schedule_id: ScheduleId) -> Schedule:
        for (tenant, sid), schedule in self._t.schedules.items():
            if sid == schedule_id and self._visible(tenant):
                return schedule
        raise NotFound("schedule", str(schedule_id))

    async def next_due(self, partitions: Sequence[int]) -> datetime | None:
        chosen = set(partitions)
        times = [
            s.next_fire_at
            for (t, _), s in self._t.schedules.items()
            if self._visible(t)
            and s.state is ScheduleState.ENABLED
            and s.next_fire_at
            and partition_of(s.id, self._t.partitions) in chosen
        ]
        return min(times, default=None)

    async def due(self, until: datetime, limit: int, partitions: Sequence[int]) -> list[Schedule]:
        chosen = set(partitions)
        found = [
            s
            for (t, _), s in self._t.schedules.items()
            if self._visible(t)
            and s.state is ScheduleState.ENABLED
            and partition_of(s.id, self._t.partitions) in chosen
            and s.next_fire_at is not None
            and s.next_fire_at <= until
        ]
        found.sort(key=lambda s: s.next_fire_at or until)
        return found[:limit]

    async def count_live(self) -> int:
        return sum(
            1
            for (t, _), s in self._t.schedules.items()
            if self._visible(t) and s.state is not ScheduleState.DELETED and not s.system
        )

    async def of_job(self, job_id: JobId) -> list[Schedule]:
        return [
            s
            for (t, _), s in self._t.schedules.items()
            if self._visible(t) and s.job_id == job_id and s.state is ScheduleState.ENABLED
        ]

    async def using_job(self, job_id: JobId) -> list[str]:
        return sorted(
            s.name
            for (t, _), s in self._t.schedules.items()
            if self._visible(t) and s.job_id == job_id and s.state is not ScheduleState.DELETED
        )

    async def by_name(self, name: str) -> Schedule:
        for (t, _), s in self._t.schedules.items():
            if self._visible(t) and s.name == name and s.state is not ScheduleState.DELETED:
                return s
        raise NotFound("schedule", name)

    async def advance_many(self, changes: Sequence[tuple[Schedule, int]]) -> None:
        for schedule, expected in changes:
            current = await self.get(schedule.id)
            _require_version("schedule", schedule.id, current.version, expected)
        for schedule, _ in changes:
            self._guard(schedule.tenant_id)
            current = self._t.schedules[(schedule.tenant_id, schedule.id)]
            self._t.schedules[(schedule.tenant_id, schedule.id)] = replace(
                current,
                state=schedule.state,
                next_fire_at=schedule.next_fire_at,
                fire_count=schedule.fire_count,
                version=schedule.version,
                updated_at=schedule.updated_at,
            )

    async def list(self, *, after: Keyset | None, limit: int) -> list[Schedule]:
        live = [
            s
            for (t, _), s in self._t.schedules.items()
            if self._visible(t) and s.state is not ScheduleState.DELETED
        ]
        return _page(live, lambda s: (s.created_at, s.id), after, limit)

    async def search(self, query: ScheduleSearch) -> tuple[Sequence[Schedule], int]:
        text = query.text[:200].lower()
        found = [
            s
            for (t, _), s in self._t.schedules.items()
            if self._visible(t)
            and s.state is not ScheduleState.DELETED
            and (query.state is None or s.state is query.state)
            and (not text or text in s.name.lower() or str(s.id) == text)
        ]
        keys: dict[ScheduleOrder, Callable[[Schedule], Any]] = {
            ScheduleOrder.NAME: lambda s: (s.name.lower(), s.id),
            ScheduleOrder.STATE: lambda s: (s.state.value, s.name.lower(), s.id),
            ScheduleOrder.CREATED: lambda s: (s.created_at, s.id),
        }
        if query.order is ScheduleOrder.NEXT:
            dated = sorted(
                (s for s in found if s.next_fire_at is not None),
                key=lambda s: (s.next_fire_at, s.id),
                reverse=query.descending,
            )
            undated = sorted(
                (s for s in found if s.next_fire_at is None),
                key=lambda s: s.id,
                reverse=query.descending,
            )
            ordered = dated + undated
        else:
            ordered = sorted(found, key=keys[query.order], reverse=query.descending)
        return ordered[query.offset : query.offset + query.limit], len(found)

    def _check(self, schedule: Schedule) -> None:
        self._guard(schedule.tenant_id)
        if self._live_name_taken(schedule):
            raise Conflict(f"a schedule named {schedule.name!r} already exists", name=schedule.name)
        if (schedule.tenant_id, schedule.job_id) not in self._t.jobs:
            raise NotFound("job", str(schedule.job_id))

    async def add(self, schedule: Schedule) -> None:
        self._check(schedule)
        self._t.schedules[(schedule.tenant_id, schedule.id)] = reloaded_schedule(schedule)

    async def save(self, schedule: Schedule, *, expected_version: int) -> None:
        current = await self.get(schedule.id)
        _require_version("schedule", schedule.id, current.version, expected_version)
        self._check(schedule)
        self._t.schedules[(schedule.tenant_id, schedule.id)] = reloaded_schedule(schedule)

"""The zone-rules ledger in memory."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from adapters.memory.tables import _Scoped
from domain.ids import ScheduleId, TenantId
from domain.schedule import Schedule, ScheduleState
from domain.tzdata import Replan


class MemoryZoneRules(_Scoped):
    async def recorded(self) -> str | None:
        return self._t.tzdata[0] if self._t.tzdata else None

    async def record(self, version: str, *, replica: str, now: datetime) -> None:
        assert self._tenant is None, "the deployment's tzdata is recorded by the system"
        self._t.tzdata[:] = [version]

    async def planned(
        self, after: tuple[TenantId, ScheduleId] | None, limit: int
    ) -> list[tuple[Schedule, datetime | None]]:
        live = (ScheduleState.ENABLED, ScheduleState.PAUSED)
        found = sorted(
            (key, s)
            for key, s in self._t.schedules.items()
            if self._visible(key[0]) and s.state in live and s.next_fire_at is not None
            if after is None or (key[0], str(key[1])) > (after[0], str(after[1]))
        )
        out: list[tuple[Schedule, datetime | None]] = []
        for (tenant, schedule_id), schedule in found[:limit]:
            nominal = [
                r.nominal_at
                for r in self._t.runs.values()
                if r.tenant_id == tenant and r.schedule_id == schedule_id
            ]
            out.append((schedule, max(nominal, default=None)))
        return out

    async def add(self, replans: Sequence[Replan]) -> None:
        for replan in replans:
            self._guard(replan.tenant_id)
            self._t.replans[(replan.tenant_id, replan.schedule_id, replan.tzdata_to)] = replan

    async def replans(self, *, limit: int) -> list[Replan]:
        found = [r for r in self._t.replans.values() if self._visible(r.tenant_id)]
        found.sort(key=lambda r: (r.replanned_at, str(r.schedule_id)), reverse=True)
        return found[:limit]

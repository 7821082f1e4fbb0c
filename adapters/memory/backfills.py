"""Backfills in memory."""

from __future__ import annotations

from adapters.memory.tables import _Scoped
from domain.backfill import Backfill
from domain.errors import Conflict, NotFound
from domain.ids import BackfillId


class MemoryBackfills(_Scoped):
    async def add(self, backfill: Backfill) -> None:
        self._guard(backfill.request.tenant_id)
        if backfill.id in self._t.backfills:
            raise Conflict(f"backfill {backfill.id} exists")
        self._t.backfills[backfill.id] = backfill

    async def get(self, backfill_id: BackfillId) -> Backfill:
        found = self._t.backfills.get(backfill_id)
        if found is None or not self._visible(found.request.tenant_id):
            raise NotFound("backfill", str(backfill_id))
        return found

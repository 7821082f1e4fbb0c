"""The audit trail in memory."""

from __future__ import annotations

from adapters.memory.tables import _Scoped
from domain.audit import AuditEntry
from domain.ports import Keyset


class MemoryAudit(_Scoped):
    async def add(self, entry: AuditEntry) -> None:
        self._guard(entry.tenant_id)
        self._t.audit.append(entry)

    async def list(self, *, after: Keyset | None, limit: int) -> list[AuditEntry]:
        found = sorted(
            (e for e in self._t.audit if self._visible(e.tenant_id)),
            key=lambda e: (e.at, str(e.id)),
            reverse=True,
        )
        if after is not None:
            found = [e for e in found if (e.at, str(e.id)) < (after[0], str(after[1]))]
        return found[:limit]

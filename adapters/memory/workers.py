"""Registered workers in memory."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from adapters.memory.tables import _Scoped
from domain.errors import NotFound
from domain.ids import WorkerId
from domain.ports import Keyset
from domain.worker import Worker, WorkerState


class MemoryWorkers(_Scoped):
    async def get(self, worker_id: WorkerId, *, lock: bool = False) -> Worker:
        for (tenant, wid), worker in self._t.workers.items():
            if wid == worker_id and self._visible(tenant):
                return worker
        raise NotFound("worker", str(worker_id))

    async def save(self, worker: Worker) -> None:
        self._guard(worker.tenant_id)
        self._t.workers[(worker.tenant_id, worker.id)] = worker

    async def list(self, *, after: Keyset | None, limit: int) -> list[Worker]:
        found = sorted(
            (w for (t, _), w in self._t.workers.items() if self._visible(t)),
            key=lambda w: (w.registered_at, str(w.id)),
        )
        if after is not None:
            found = [w for w in found if (w.registered_at, str(w.id)) > (after[0], str(after[1]))]
        return found[:limit]

    async def silent(self, now: datetime, limit: int) -> Sequence[Worker]:
        found = [
            w
            for (t, _), w in self._t.workers.items()
            if self._visible(t) and w.state is not WorkerState.OFFLINE and w.silent(now)
        ]
        found.sort(key=lambda w: w.last_heartbeat_at)
        return found[:limit]

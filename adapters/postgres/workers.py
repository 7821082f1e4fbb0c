"""Registered workers on PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from adapters.postgres.queries import sql
from adapters.postgres.writes import _guard
from domain.errors import NotFound
from domain.ids import TenantId, WorkerId
from domain.ports import Keyset
from domain.worker import MISSED_HEARTBEATS_OFFLINE, Worker, WorkerState


class PgWorkers:
    def __init__(self, conn: asyncpg.Connection, tenant_id: TenantId | None) -> None:
        self._conn = conn
        self._tenant = tenant_id

    @staticmethod
    def _from_row(row: asyncpg.Record) -> Worker:
        return Worker(
            id=WorkerId(row["id"]),
            tenant_id=TenantId(row["tenant_id"]),
            name=row["name"],
            capabilities=frozenset(row["capabilities"]),
            capacity=row["capacity"],
            version=row["version"],
            state=WorkerState(row["state"]),
            heartbeat_interval=row["heartbeat_interval"],
            registered_at=row["registered_at"],
            last_heartbeat_at=row["last_heartbeat_at"],
            beats=row["beats"],
            labels=row["labels"],
        )

    async def get(self, worker_id: WorkerId, *, lock: bool = False) -> Worker:
        row = await self._conn.fetchrow(
            sql("get_worker_for_update" if lock else "get_worker"), worker_id
        )
        if row is None:
            raise NotFound("worker", str(worker_id))
        return self._from_row(row)

    async def save(self, worker: Worker) -> None:
        _guard(worker.tenant_id, self._tenant)
        await self._conn.execute(
            sql("save_worker"),
            worker.tenant_id,
            worker.id,
            worker.name,
            sorted(worker.capabilities),
            worker.capacity,
            worker.version,
            worker.state.value,
            worker.heartbeat_interval,
            worker.registered_at,
            worker.last_heartbeat_at,
            worker.beats,
            dict(worker.labels),
        )

    async def list(self, *, after: Keyset | None, limit: int) -> list[Worker]:
        at, id = after or (None, None)
        rows = await self._conn.fetch(sql("list_workers"), at, id, limit)
        return [self._from_row(row) for row in rows]

    async def silent(self, now: datetime, limit: int) -> Sequence[Worker]:
        rows = await self._conn.fetch(sql("silent_workers"), now, MISSED_HEARTBEATS_OFFLINE, limit)
        return [self._from_row(row) for row in rows]

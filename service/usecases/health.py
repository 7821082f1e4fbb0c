"""Liveness and readiness (``/health/live``, ``/health/ready``).

Ready means this replica can do its work now: PostgreSQL answers, NATS is connected,
no migration is pending, a leader holds the cluster-wide lease (this replica or
another) and no partition has been without a live lease for longer than the lease ttl
(``leader`` lists which replica leads which partitions, at which epochs), and the
oldest event still in the outbox is younger than ``outbox_lag_limit`` (events reach the
stream). Each check is bounded in time; a failing one says why in the answer.

``tzdata`` reports this replica's zone-rules version and the deployment's (the one the
stored next fires were planned with). A difference does not make the replica unready:
it is what a rolling upgrade looks like, and the next leader re-plans; ``agrees`` says
whether they match, for an alert on replicas left behind.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from domain.ports import LEADER, Database
from domain.zones import tzdata_version
from service.usecases.replicas import replicas_report

CHECK_TIMEOUT = 2.0


@dataclass(frozen=True)
class Readiness:
    db: Database
    nats_connected: Callable[[], bool]
    pending_migrations: Callable[[], Awaitable[Sequence[int]]]
    outbox_lag_limit: timedelta = timedelta(seconds=60)
    # The replica's loops paused by an error (an outage being waited out, or a fault):
    # not ready until every one runs again.
    paused: Callable[[], Mapping[str, str]] | None = None
    # A partition without a live lease for longer than this is not led: not ready.
    lease_ttl: timedelta = timedelta(seconds=10)

    async def check(self) -> tuple[bool, dict[str, Any]]:
        checks = {
            "postgres": self._postgres,
            "nats": self._nats,
            "migrations": self._migrations,
            "leader": self._leader,
            "outbox": self._outbox,
            "tzdata": self._tzdata,
        }
        if self.paused is not None:
            checks["loops"] = self._loops
        results = await asyncio.gather(*(_bounded(check) for check in checks.values()))
        detail = dict(zip(checks, results, strict=True))
        return all(r["ok"] for r in results), detail

    async def _postgres(self) -> dict[str, Any]:
        async with self.db.system() as tx:
            await tx.now()
        return {"ok": True}

    async def _nats(self) -> dict[str, Any]:
        return {"ok": self.nats_connected()}

    async def _loops(self) -> dict[str, Any]:
        paused = dict(self.paused()) if self.paused is not None else {}
        return {"ok": not paused, "paused": paused} if paused else {"ok": True}

    async def _migrations(self) -> dict[str, Any]:
        waiting = list(await self.pending_migrations())
        return {"ok": not waiting, "pending": waiting}

    async def _leader(self) -> dict[str, Any]:
        async with self.db.system() as tx:
            current = await tx.leader.current(LEADER)
        report = await replicas_report(self.db)
        unled = report.unleased(self.lease_ttl)
        partitions = {
            "count": report.partitions,
            "unleased": report.unleased(),
            "replicas": {
                share.name: {str(p): epoch for p, epoch in sorted(share.partitions.items())}
                for share in report.replicas
                if share.partitions
            },
        }
        if current is None:
            return {
                "ok": False,
                "error": "no replica holds the leader lease",
                "partitions": partitions,
            }
        found: dict[str, Any] = {
            "ok": not unled,
            "holder": current[0],
            "epoch": current[1],
            "partitions": partitions,
        }
        if unled:
            found["error"] = (
                f"{len(unled)} partition(s) without a live lease for longer than "
                f"{self.lease_ttl.total_seconds():g}s: {unled[:16]}"
            )
        return found

    async def _outbox(self) -> dict[str, Any]:
        async with self.db.system() as tx:
            oldest = await tx.outbox.pending(1)
            now = await tx.now()
        lag = (now - oldest[0].event.occurred_at).total_seconds() if oldest else 0.0
        limit = self.outbox_lag_limit.total_seconds()
        return {"ok": lag <= limit, "lag_seconds": round(max(lag, 0.0), 3), "limit": limit}

    async def _tzdata(self) -> dict[str, Any]:
        async with self.db.system() as tx:
            recorded = await tx.tzdata.recorded()
        version = tzdata_version()
        return {
            "ok": True,
            "version": version,
            "deployment": recorded,
            "agrees": recorded is None or recorded == version,
        }


async def _bounded(check: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            result = await check()
    except TimeoutError:
        result = {"ok": False, "error": f"no answer within {CHECK_TIMEOUT:g}s"}
    except Exception as exc:
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    result["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result

"""Health probes: live always answers; ready checks Postgres, NATS, migrations, the
leader and outbox lag, and says which failed (memory adapters, fake clock)."""

from __future__ import annotations

from datetime import timedelta

import httpx

from adapters.http.api import create_app, header_principal
from adapters.memory.clock import FakeClock
from adapters.memory.database import MemoryDatabase
from domain.events import DomainEvent, EventType
from domain.ids import TenantId, new_id
from domain.zones import tzdata_version
from service.loops.leadership import acquire, acquire_all
from service.loops.materialiser import LEADER
from service.usecases.health import Readiness


async def test_ready_names_each_failing_check_and_recovers(
    db: MemoryDatabase, clock: FakeClock
) -> None:
    """No leader, NATS down, a migration pending, an old event in the outbox: 503 with
    each check false; all fixed: 200. Neither probe needs a token."""
    state = {"nats": False, "pending": [13]}

    async def pending() -> list[int]:
        return state["pending"]  # type: ignore[return-value]

    readiness = Readiness(db, lambda: bool(state["nats"]), pending)
    app = create_app(db, auth=header_principal, readiness=readiness)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://kairos"
    ) as api:
        assert (await api.get("/health/live")).json() == {"status": "live"}
        async with db.system() as tx:
            await tx.outbox.append(
                [
                    DomainEvent.of(
                        EventType.WORKER_OFFLINE,
                        tenant_id=TenantId("acme"),
                        aggregate_id=new_id(),
                        revision=1,
                        occurred_at=clock.now(),
                    )
                ],
                traceparent=None,
            )
        clock.advance(timedelta(minutes=5))
        r = await api.get("/health/ready")
        checks = r.json()["checks"]
        assert (r.status_code, r.json()["status"]) == (503, "not ready")
        assert {name: c["ok"] for name, c in checks.items()} == {
            "postgres": True,
            "nats": False,
            "migrations": False,
            "leader": False,
            "outbox": False,
            "tzdata": True,
        }
        assert checks["tzdata"]["version"] == tzdata_version()
        assert (checks["tzdata"]["deployment"], checks["tzdata"]["agrees"]) == (None, True)
        assert checks["migrations"]["pending"] == [13]
        assert checks["outbox"]["lag_seconds"] == 300.0
        state.update(nats=True, pending=[])
        async with db.system() as tx:
            await acquire(tx.leader, LEADER, "replica-a", timedelta(seconds=10))
            await tx.outbox.mark_published([record.seq for record in await tx.outbox.pending(10)])
        r = await api.get("/health/ready")
        leader = r.json()["checks"]["leader"]
        # The cluster-wide lease is held, but no partition has ever been led.
        assert (r.status_code, leader["ok"], leader["holder"]) == (503, False, "replica-a")
        assert leader["partitions"]["unleased"] == list(range(64))
        assert "64 partition(s) without a live lease" in leader["error"]
        async with db.system() as tx:
            await acquire_all(tx.leader, "replica-a", timedelta(seconds=10), cluster=False)
        r = await api.get("/health/ready")
        leader = r.json()["checks"]["leader"]
        assert (r.status_code, leader["holder"]) == (200, "replica-a")
        assert leader["partitions"] == {
            "count": 64,
            "unleased": [],
            "replicas": {"replica-a": {str(p): 1 for p in range(64)}},
        }
        # Leases lapsed for less than the ttl (a failover under way): still ready.
        clock.advance(timedelta(seconds=15))
        async with db.system() as tx:
            await acquire(tx.leader, LEADER, "replica-b", timedelta(seconds=10))
        r = await api.get("/health/ready")
        assert r.status_code == 200
        assert r.json()["checks"]["leader"]["partitions"]["unleased"] == list(range(64))
        clock.advance(timedelta(seconds=6))  # lapsed 11 s ago: past the 10 s ttl
        async with db.system() as tx:
            await acquire(tx.leader, LEADER, "replica-b", timedelta(seconds=10))
        r = await api.get("/health/ready")
        assert r.status_code == 503
        assert "longer than 10s" in r.json()["checks"]["leader"]["error"]


async def test_every_answer_names_its_request(db: MemoryDatabase) -> None:
    """X-Request-Id is echoed when given, made up when not (the id in the log lines)."""
    app = create_app(db, auth=header_principal)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://kairos"
    ) as api:
        given = await api.get("/health/live", headers={"X-Request-Id": "abc-123"})
        assert given.headers["x-request-id"] == "abc-123"
        made = await api.get("/jobs")  # 401: errors carry it too
        assert made.status_code == 401
        assert len(made.headers["x-request-id"]) == 16

"""Per-tenant quotas and API rate limits (memory adapters, fake clocks)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from adapters.http.api import create_app, header_principal
from adapters.http.ratelimit import RateLimiter
from adapters.memory.database import MemoryDatabase
from domain.ids import TenantId
from domain.limits import TenantLimits
from tests.api.support import ACME, GLOBEX, error

JOB = {"name": "report", "target": {"kind": "EVENT", "config": {"subject": "reports"}}}
LIMITS = TenantLimits(max_schedules=2, min_interval=timedelta(minutes=1), max_payload_bytes=100)


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def api(db: MemoryDatabase) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(db, auth=header_principal, limits=LIMITS)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://kairos"
    ) as client:
        yield client


def schedule(job_id: str, name: str, expression: str = "0 3 * * *", **more: object) -> dict:  # type: ignore[type-arg]
    return {
        "name": name,
        "job_id": job_id,
        "trigger": {"type": "CRON", "expression": expression},
        **more,
    }


async def test_quotas_name_what_was_refused(api: httpx.AsyncClient) -> None:
    """Every 30 s under a 1-minute minimum: 422 on trigger; a 200-byte payload: 422 on
    payload (create, trigger); a third schedule: 403 naming max_schedules; nothing
    half-written; another tenant has its own count."""
    job_id = (await api.post("/jobs", json=JOB, headers=ACME)).json()["id"]
    every_30s = schedule(job_id, "fast", "*/30 * * * * *")
    r = await api.post("/schedules", json=every_30s, headers=ACME)
    assert (r.status_code, error(r)["details"]["field"]) == (422, "trigger")
    assert error(r)["details"]["quota"] == "min_interval"
    big = {"blob": "x" * 200}
    r = await api.post("/schedules", json=schedule(job_id, "big", payload=big), headers=ACME)
    assert (r.status_code, error(r)["details"]["field"]) == (422, "payload")
    first = await api.post("/schedules", json=schedule(job_id, "a"), headers=ACME)
    assert first.status_code == 201
    r = await api.post(
        f"/schedules/{first.json()['id']}/trigger", json={"payload": big}, headers=ACME
    )
    assert (r.status_code, error(r)["details"]["quota"]) == (422, "max_payload_bytes")
    assert (await api.post("/schedules", json=schedule(job_id, "b"), headers=ACME)).is_success
    r = await api.post("/schedules", json=schedule(job_id, "c"), headers=ACME)
    assert (r.status_code, error(r)["code"], error(r)["details"]["quota"]) == (
        403,
        "FORBIDDEN",
        "max_schedules",
    )
    names = [s["name"] for s in (await api.get("/schedules", headers=ACME)).json()["items"]]
    assert sorted(n for n in names if not n.startswith("system.")) == ["a", "b"]
    r = await api.patch(
        f"/schedules/{first.json()['id']}",
        json={"trigger": {"type": "CRON", "expression": "*/30 * * * * *"}},
        headers=ACME,
    )
    assert (r.status_code, error(r)["details"]["field"]) == (422, "trigger")
    other = (await api.post("/jobs", json=JOB, headers=GLOBEX)).json()["id"]
    assert (await api.post("/schedules", json=schedule(other, "a"), headers=GLOBEX)).is_success


async def test_a_tenant_over_its_rate_gets_429_with_retry_after(db: MemoryDatabase) -> None:
    """Burst 3 at 1/s: the 4th call in the same instant is 429 Retry-After 1; another
    tenant is not affected; a second later the tenant may call again."""
    ticks = Ticks()
    app = create_app(db, auth=header_principal, limiter=RateLimiter(1.0, 3, clock=ticks))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://kairos"
    ) as api:
        for _ in range(3):
            assert (await api.get("/jobs", headers=ACME)).status_code == 200
        r = await api.get("/jobs", headers=ACME)
        assert (r.status_code, error(r)["code"], r.headers["retry-after"]) == (
            429,
            "RATE_LIMITED",
            "1",
        )
        assert (await api.get("/jobs", headers=GLOBEX)).status_code == 200
        ticks.now += 1.0
        assert (await api.get("/jobs", headers=ACME)).status_code == 200
        assert (await api.get("/jobs", headers=ACME)).status_code == 429


async def test_usage_shows_the_tenants_own_and_only_the_operator_sees_all(
    db: MemoryDatabase,
) -> None:
    """GET /usage: acme's counts next to its quotas; GET /admin/usage: 403 for acme's
    admin, every tenant for the operator's; a bad ``since`` is 422 on since."""
    app = create_app(db, auth=header_principal, limits=LIMITS, operator=TenantId("ops"))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://kairos"
    ) as api:
        job_id = (await api.post("/jobs", json=JOB, headers=ACME)).json()["id"]
        assert (await api.post("/schedules", json=schedule(job_id, "a"), headers=ACME)).is_success
        await api.post("/jobs", json=JOB, headers=GLOBEX)
        mine = await api.get("/usage", headers=ACME)
        assert mine.status_code == 200
        body = mine.json()
        assert body["tenant_id"] == "acme"
        assert body["schedules"] == {"live": 1, "enabled": 1, "limit": 2}
        assert body["jobs"] == 1
        assert body["runs"]["running_limit"] is None
        denied = await api.get("/admin/usage", headers=ACME)
        assert (denied.status_code, error(denied)["code"]) == (403, "FORBIDDEN")
        every = await api.get("/admin/usage", headers={"Kairos-Tenant": "ops"})
        assert every.status_code == 200
        assert [u["tenant_id"] for u in every.json()["items"]] == ["acme", "globex"]
        assert every.json()["items"][0] == {k: v for k, v in body.items() if k != "since"}
        bad = await api.get("/usage", params={"since": "yesterday"}, headers=ACME)
        assert (bad.status_code, error(bad)["details"]["field"]) == (422, "since")

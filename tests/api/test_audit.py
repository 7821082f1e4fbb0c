"""The audit trail: mutating calls with actor, before and after (secrets redacted);
reads, refused calls and the worker protocol are not recorded; tenants see their own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from fastapi import Request

from adapters.http.api import create_app, header_principal
from adapters.memory.clock import FakeClock
from adapters.memory.database import MemoryDatabase
from adapters.secrets import FernetSecretBox
from domain.access import Principal
from tests.api.support import ACME, GLOBEX

BOX = FernetSecretBox(FernetSecretBox.generate_key())


@pytest.fixture
async def api(db: MemoryDatabase, clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(db, auth=header_principal, secrets=BOX)

    async def tick(_: httpx.Request) -> None:
        clock.advance(timedelta(seconds=1))  # each call at its own instant

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://kairos",
        event_hooks={"request": [tick]},
    ) as client:
        yield client


async def test_mutations_are_recorded_with_before_and_after(api: httpx.AsyncClient) -> None:
    """Create, patch, pause and delete: four entries newest first, each with its actor
    and status; the patch shows the old and new cron; an HTTP job's secret is redacted;
    a GET, a 401 and a worker heartbeat add nothing; globex sees none of it."""
    hook = {"name": "hook", "target": {"kind": "HTTP", "config": {"url": "https://a.example"}}}
    created = await api.post("/jobs", json=hook, headers=ACME)
    secret = created.json()["secret"]
    job = {"name": "r", "target": {"kind": "EVENT", "config": {"subject": "r"}}}
    job_id = (await api.post("/jobs", json=job, headers=ACME)).json()["id"]
    body = {"name": "s", "job_id": job_id, "trigger": {"type": "CRON", "expression": "0 3 * * *"}}
    sid = (await api.post("/schedules", json=body, headers=ACME)).json()["id"]
    patch = {"trigger": {"type": "CRON", "expression": "0 4 * * *"}}
    assert (await api.patch(f"/schedules/{sid}", json=patch, headers=ACME)).status_code == 200
    await api.post(f"/schedules/{sid}/pause", headers=ACME)
    await api.get(f"/schedules/{sid}", headers=ACME)
    await api.delete(f"/schedules/{sid}")  # no tenant: 401, not recorded
    worker = await api.post(
        "/workers/register", json={"name": "w", "capabilities": ["x"]}, headers=ACME
    )
    await api.post(f"/workers/{worker.json()['id']}/heartbeat", json={}, headers=ACME)
    assert (await api.delete(f"/schedules/{sid}", headers=ACME)).status_code == 204

    trail = (await api.get("/audit", headers=ACME)).json()["items"]
    assert [(e["method"], e["path"], e["status"]) for e in trail] == [
        ("DELETE", f"/schedules/{sid}", 204),
        ("POST", f"/schedules/{sid}/pause", 200),
        ("PATCH", f"/schedules/{sid}", 200),
        ("POST", "/schedules", 201),
        ("POST", "/jobs", 201),
        ("POST", "/jobs", 201),
    ]
    assert {e["actor"] for e in trail} == {"header:acme"}
    patched = trail[2]
    assert patched["before"]["trigger"]["expression"] == "0 3 * * *"
    assert patched["after"]["trigger"]["expression"] == "0 4 * * *"
    assert (trail[1]["before"]["state"], trail[1]["after"]["state"]) == ("enabled", "paused")
    assert trail[0]["after"] is None
    first_job = trail[-1]["after"]
    assert first_job["secret"] == "[redacted]"
    assert secret not in str(trail)
    assert (await api.get("/audit", headers=GLOBEX)).json()["items"] == []


async def test_a_mutating_call_verifies_its_token_once(db: MemoryDatabase) -> None:
    """A mutating (audited) call verifies its token once."""
    calls: list[str] = []

    async def counting(request: Request) -> Principal:
        calls.append(request.url.path)
        return await header_principal(request)

    app = create_app(db, auth=counting)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://kairos"
    ) as api:
        job = {"name": "r", "target": {"kind": "EVENT", "config": {"subject": "r"}}}
        assert (await api.post("/jobs", json=job, headers=ACME)).status_code == 201
    assert calls == ["/jobs"]


async def test_a_refused_change_is_recorded_with_its_status(api: httpx.AsyncClient) -> None:
    """A PATCH the domain refuses (422) is recorded: nothing changed, so its after is
    its before; a create the models refuse records the error it answered."""
    job = {"name": "r", "target": {"kind": "EVENT", "config": {"subject": "r"}}}
    job_id = (await api.post("/jobs", json=job, headers=ACME)).json()["id"]
    body = {"name": "s", "job_id": job_id, "trigger": {"type": "CRON", "expression": "0 3 * * *"}}
    sid = (await api.post("/schedules", json=body, headers=ACME)).json()["id"]
    bad = {"trigger": {"type": "CRON", "expression": "not a cron"}}
    assert (await api.patch(f"/schedules/{sid}", json=bad, headers=ACME)).status_code == 422
    assert (await api.post("/jobs", json={"name": 5}, headers=ACME)).status_code == 422

    trail = (await api.get("/audit", headers=ACME)).json()["items"]
    refused_create, refused_patch = trail[0], trail[1]
    assert (refused_patch["method"], refused_patch["status"]) == ("PATCH", 422)
    assert refused_patch["before"] == refused_patch["after"]
    assert refused_patch["after"]["trigger"]["expression"] == "0 3 * * *"
    assert (refused_create["path"], refused_create["status"]) == ("/jobs", 422)
    assert refused_create["before"] is None
    assert refused_create["after"]["error"]["details"]["field"] == "name"

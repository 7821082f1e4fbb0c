"""The external worker protocol and HTTP targets' secrets over the REST API (memory
adapters, fake clock): capacity, drain, heartbeat answers, stale tokens, cancellation,
tenant isolation, secrets shown once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from adapters.http.api import create_app, header_principal
from adapters.memory.clock import FakeClock
from adapters.memory.database import MemoryDatabase
from adapters.secrets import FernetSecretBox
from domain.limits import TenantLimits
from service.usecases import runs as use
from tests.api.support import ACME, GLOBEX, T0, error
from tests.builders import leading

WORKER_JOB = {
    "name": "reports",
    "target": {"kind": "WORKER", "config": {"type": "reports.generate"}},
    "priority": "normal",
}
BOX = FernetSecretBox(FernetSecretBox.generate_key())


@pytest.fixture
async def api(db: MemoryDatabase) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(db, auth=header_principal, secrets=BOX))
    async with httpx.AsyncClient(transport=transport, base_url="http://kairos") as client:
        yield client


async def runs_of(api: httpx.AsyncClient, n: int, job: dict[str, Any] = WORKER_JOB) -> list[str]:
    created = await api.post("/jobs", json=job, headers=ACME)
    assert created.status_code == 201, created.text
    schedule = await api.post(
        "/schedules",
        json={
            "name": f"s-{job['name']}",
            "job_id": created.json()["id"],
            "trigger": {"type": "CRON", "expression": "0 3 * * *"},
            "overlap_policy": "allow",
        },
        headers=ACME,
    )
    sid = schedule.json()["id"]
    ids = []
    for _ in range(n):
        r = await api.post(f"/schedules/{sid}/trigger", json={}, headers=ACME)
        ids.append(r.json()["id"])
    return ids


async def register(api: httpx.AsyncClient, capacity: int = 2, **more: Any) -> str:
    r = await api.post(
        "/workers/register",
        json={
            "name": "w1",
            "capabilities": ["reports.generate"],
            "capacity": capacity,
            "labels": {"zone": "eu-1"},
            **more,
        },
        headers=ACME,
    )
    assert r.status_code == 201, r.text
    assert r.json()["labels"] == {"zone": "eu-1"}
    return str(r.json()["id"])


async def test_claims_never_exceed_the_workers_free_capacity(api: httpx.AsyncClient) -> None:
    """Capacity 2, asking for 5 with 4 due: 2 runs; a second claim gets nothing until one
    is completed, then exactly one."""
    await runs_of(api, 4)
    wid = await register(api, capacity=2)
    first = (await api.post(f"/workers/{wid}/claim", json={"max": 5}, headers=ACME)).json()
    assert len(first["runs"]) == 2
    assert first["runs"][0]["type"] == "reports.generate"
    assert first["runs"][0]["job"]["target"] == WORKER_JOB["target"]
    again = (await api.post(f"/workers/{wid}/claim", json={"max": 5}, headers=ACME)).json()
    assert again["runs"] == []
    done = first["runs"][0]
    r = await api.post(
        f"/runs/{done['run_id']}/complete",
        json={"token": done["lease_token"], "detail": {"rows": 12}},
        headers=ACME,
    )
    assert r.json()["status"] == "succeeded"
    third = (await api.post(f"/workers/{wid}/claim", json={"max": 5}, headers=ACME)).json()
    assert len(third["runs"]) == 1
    run = (await api.get(f"/runs/{done['run_id']}", headers=ACME)).json()
    assert run["attempts"][0]["response"] == {"rows": 12}


async def test_a_stale_token_is_lease_lost_and_fail_retries_with_retry_after(
    api: httpx.AsyncClient, clock: FakeClock
) -> None:
    """complete with an old token: 409 LEASE_LOST; fail with retry_after 90: pending
    90 s later, not at the job's 1 s backoff."""
    (run_id,) = await runs_of(api, 1)
    wid = await register(api)
    (claimed,) = (await api.post(f"/workers/{wid}/claim", json={}, headers=ACME)).json()["runs"]
    r = await api.post(
        f"/runs/{run_id}/complete", json={"token": claimed["lease_token"][::-1]}, headers=ACME
    )
    assert (r.status_code, error(r)["code"]) == (409, "LEASE_LOST")
    r = await api.post(
        f"/runs/{run_id}/fail",
        json={"token": claimed["lease_token"], "error": "store busy", "retry_after": 90},
        headers=ACME,
    )
    body = r.json()
    assert (body["status"], body["reason"]) == ("pending", "store busy")
    available = datetime.fromisoformat(body["available_at"])
    assert available - clock.now() == timedelta(seconds=90)


async def test_heartbeat_answers_cancel_lost_and_drain(
    api: httpx.AsyncClient, db: MemoryDatabase, clock: FakeClock
) -> None:
    """A cancel asked for while running comes back in the heartbeat and its lease is no
    longer extended; the worker's fail ends it cancelled. Drain: claims answer nothing
    with drain true, and the heartbeat says drain."""
    ids = await runs_of(api, 2)
    wid = await register(api)
    claimed = (await api.post(f"/workers/{wid}/claim", json={"max": 2}, headers=ACME)).json()
    a, b = claimed["runs"]
    r = await api.post(f"/runs/{a['run_id']}/cancel", headers=ACME)
    assert (r.status_code, r.json()["status"], r.json()["cancel_requested"]) == (
        202,
        "running",
        "cancelled by request",
    )
    clock.advance(timedelta(seconds=10))
    held = {a["run_id"]: a["lease_token"], b["run_id"]: b["lease_token"][::-1]}
    beat = (await api.post(f"/workers/{wid}/heartbeat", json={"held": held}, headers=ACME)).json()
    assert beat == {
        "state": "online",
        "drain": False,
        "cancel": [a["run_id"]],
        "lost": [b["run_id"]],
    }
    lease_a = (await api.get(f"/runs/{a['run_id']}", headers=ACME)).json()["lease_until"]
    assert datetime.fromisoformat(lease_a) == T0 + use.DEFAULT_LEASE  # not extended
    r = await api.post(
        f"/runs/{a['run_id']}/fail",
        json={"token": a["lease_token"], "error": "cancelled"},
        headers=ACME,
    )
    assert (r.json()["status"], r.json()["reason"]) == ("cancelled", "cancelled by request")
    assert sorted(ids) == sorted([a["run_id"], b["run_id"]])
    drained = (await api.post(f"/workers/{wid}/drain", headers=ACME)).json()
    assert drained["state"] == "draining"
    claim = (await api.post(f"/workers/{wid}/claim", json={}, headers=ACME)).json()
    assert claim == {"runs": [], "drain": True}
    beat = (await api.post(f"/workers/{wid}/heartbeat", json={}, headers=ACME)).json()
    assert beat["drain"] is True
    stopped = (await api.post(f"/workers/{wid}/stop", headers=ACME)).json()
    assert stopped["state"] == "offline"


async def test_an_ignored_cancel_ends_cancelled_when_the_lease_runs_out(
    api: httpx.AsyncClient, db: MemoryDatabase, clock: FakeClock
) -> None:
    """The worker never reports: the rescuer ends the run cancelled (not retried) once
    the lease lapses, and a late success is refused."""
    (run_id,) = await runs_of(api, 1)
    wid = await register(api)
    (claimed,) = (await api.post(f"/workers/{wid}/claim", json={}, headers=ACME)).json()["runs"]
    await api.post(f"/runs/{run_id}/cancel", headers=ACME)
    clock.advance(use.DEFAULT_LEASE + timedelta(seconds=1))
    (rescued,) = await use.rescue(db, fence=await leading(db), limit=10)
    assert rescued.status.value == "cancelled"
    assert rescued.reason == "cancelled by request (its worker did not stop; lease expired)"
    r = await api.post(
        f"/runs/{run_id}/complete", json={"token": claimed["lease_token"]}, headers=ACME
    )
    assert (r.status_code, error(r)["code"]) == (409, "LEASE_LOST")


async def test_workers_are_tenant_scoped_and_bad_input_is_refused(
    api: httpx.AsyncClient,
) -> None:
    """Another tenant's worker is 404 everywhere; bad registrations and claims are 422
    with the field named; an offline worker must heartbeat before claiming (409)."""
    wid = await register(api)
    for path in (f"/workers/{wid}/claim", f"/workers/{wid}/heartbeat", f"/workers/{wid}/drain"):
        r = await api.post(path, json={}, headers=GLOBEX)
        assert (r.status_code, error(r)["code"]) == (404, "NOT_FOUND"), path
    assert (await api.get(f"/workers/{wid}", headers=GLOBEX)).status_code == 404
    assert (await api.get("/workers", headers=GLOBEX)).json()["items"] == []
    assert [w["id"] for w in (await api.get("/workers", headers=ACME)).json()["items"]] == [wid]
    cases = [
        ({"name": "w", "capabilities": []}, "capabilities"),
        ({"name": "w", "capabilities": ["SYSTEM"]}, "capabilities"),
        ({"name": "w", "capabilities": ["x"], "capacity": 0}, "capacity"),
        ({"name": "w", "capabilities": ["x"], "colour": "red"}, "colour"),
        ({"capabilities": ["x"]}, "name"),
        (
            {"name": "w", "capabilities": ["x"], "heartbeat_interval": "PT0.1S"},
            "heartbeat_interval",
        ),
    ]
    for body, field in cases:
        r = await api.post("/workers/register", json=body, headers=ACME)
        assert (r.status_code, error(r)["details"].get("field")) == (422, field), body
    for body, field in (({"max": 0}, "max"), ({"wait": 99}, "wait"), ({"lease": "1s"}, "lease")):
        r = await api.post(f"/workers/{wid}/claim", json=body, headers=ACME)
        assert (r.status_code, error(r)["details"]["field"]) == (422, field)
    r = await api.post(
        "/runs/00000000-0000-0000-0000-000000000001/fail", json={"token": "1"}, headers=ACME
    )
    assert (r.status_code, error(r)["details"]["field"]) == (422, "error")
    await api.post(f"/workers/{wid}/stop", headers=ACME)
    r = await api.post(f"/workers/{wid}/claim", json={}, headers=ACME)
    assert (r.status_code, error(r)["code"]) == (409, "CONFLICT")
    await api.post(f"/workers/{wid}/heartbeat", json={}, headers=ACME)
    assert (await api.post(f"/workers/{wid}/claim", json={}, headers=ACME)).status_code == 200


async def test_an_http_jobs_secret_is_shown_once_and_rotates(api: httpx.AsyncClient) -> None:
    """Created: the whsec_ secret once; reads show ids only; add and remove rotate; the
    last one cannot go; a bad config names its field."""
    job = {"name": "hook", "target": {"kind": "HTTP", "config": {"url": "https://example.com/h"}}}
    r = await api.post("/jobs", json=job, headers=ACME)
    created = r.json()
    assert created["secret"].startswith("whsec_")
    job_id, first = created["id"], created["secret_id"]
    shown = (await api.get(f"/jobs/{job_id}", headers=ACME)).json()
    assert "secret" not in shown
    assert created["secret"] not in r.text.replace(created["secret"], "", 1)
    assert [s["id"] for s in shown["secrets"]] == [first]
    added = (await api.post(f"/jobs/{job_id}/secrets", headers=ACME)).json()
    assert added["secret"].startswith("whsec_")
    assert added["secret"] != created["secret"]
    assert (await api.delete(f"/jobs/{job_id}/secrets/{first}", headers=ACME)).status_code == 204
    r = await api.delete(f"/jobs/{job_id}/secrets/{added['id']}", headers=ACME)
    assert (r.status_code, error(r)["code"]) == (409, "CONFLICT")
    r = await api.post(f"/jobs/{job_id}/secrets", json={"secret": "whsec_short"}, headers=ACME)
    assert (r.status_code, error(r)["details"]["field"]) == (422, "secret")
    bad = [
        ({"url": "ftp://x"}, "target.config.url"),
        ({"url": "https://user:pw@x.example/"}, "target.config.url"),
        (
            {"url": "https://x.example", "headers": {"Webhook-Id": "1"}},
            "target.config.headers.Webhook-Id",
        ),
        ({"url": "https://x.example", "body": "${secret}"}, "target.config.body"),
        ({"url": "https://x.example", "expected_status": [301]}, "target.config.expected_status"),
        ({"url": "https://x.example", "method": "TRACE"}, "target.config.method"),
        ({"url": "https://x.example", "timeout": "1h"}, "target.config.timeout"),
    ]
    for config, field in bad:
        body = {"name": "bad", "target": {"kind": "HTTP", "config": config}}
        r = await api.post("/jobs", json=body, headers=ACME)
        assert (r.status_code, error(r)["details"]["field"]) == (422, field), config
    r = await api.post(
        "/jobs",
        json={"name": "q", "target": {"kind": "QUEUE", "config": {"queue": "a.b"}}},
        headers=ACME,
    )
    assert (r.status_code, error(r)["details"]["field"]) == (422, "target.config.queue")


async def test_without_a_secret_key_http_jobs_answer_unavailable(db: MemoryDatabase) -> None:
    """No KAIROS_SECRET_KEY configured: creating an HTTP job is 503 and stores nothing."""
    transport = httpx.ASGITransport(app=create_app(db, auth=header_principal))
    async with httpx.AsyncClient(transport=transport, base_url="http://kairos") as api:
        job = {"name": "hook", "target": {"kind": "HTTP", "config": {"url": "https://a.example"}}}
        r = await api.post("/jobs", json=job, headers=ACME)
        assert (r.status_code, error(r)["code"]) == (503, "UNAVAILABLE")
        assert (await api.get("/jobs", headers=ACME)).json()["items"] == []


async def test_a_batch_report_records_each_outcome_and_names_the_lost(
    api: httpx.AsyncClient,
) -> None:
    """One report for three runs: a success, a failure with retry_after, and a stale
    token; the first two are recorded, the third is answered lost; a repeat of the
    success is lost too; a malformed item names its index."""
    await runs_of(api, 3)
    wid = await register(api, capacity=3)
    a, b, c = (await api.post(f"/workers/{wid}/claim", json={"max": 3}, headers=ACME)).json()[
        "runs"
    ]
    outcomes = [
        {"run_id": a["run_id"], "token": a["lease_token"]},
        {"run_id": b["run_id"], "token": b["lease_token"], "error": "busy", "retry_after": 60},
        {"run_id": c["run_id"], "token": c["lease_token"][::-1]},
    ]
    r = await api.post(f"/workers/{wid}/report", json={"outcomes": outcomes}, headers=ACME)
    assert r.json() == {"recorded": [a["run_id"], b["run_id"]], "lost": [c["run_id"]]}
    states = [
        (await api.get(f"/runs/{x['run_id']}", headers=ACME)).json()["status"] for x in (a, b, c)
    ]
    assert states == ["succeeded", "pending", "running"]
    again = await api.post(f"/workers/{wid}/report", json={"outcomes": outcomes[:1]}, headers=ACME)
    assert again.json() == {"recorded": [], "lost": [a["run_id"]]}
    bad = await api.post(
        f"/workers/{wid}/report",
        json={"outcomes": [outcomes[0], {"run_id": "x", "token": "1"}]},
        headers=ACME,
    )
    assert (bad.status_code, error(bad)["details"]["field"]) == (422, "outcomes[1].run_id")
    other = await api.post(f"/workers/{wid}/report", json={"outcomes": []}, headers=GLOBEX)
    assert other.status_code == 404


async def test_the_tenants_cap_on_running_runs_holds_for_external_claims(
    db: MemoryDatabase,
) -> None:
    """KAIROS_MAX_RUNNING 1 (TenantLimits.max_running): a worker of capacity 5 with 3
    runs due gets 1; the rest stay pending until it ends."""
    app = create_app(db, auth=header_principal, limits=TenantLimits(max_running=1))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://kairos"
    ) as api:
        ids = await runs_of(api, 3)
        wid = await register(api, capacity=5)
        first = (await api.post(f"/workers/{wid}/claim", json={"max": 5}, headers=ACME)).json()
        assert len(first["runs"]) == 1
        pending = await api.get("/runs", params={"status": "pending"}, headers=ACME)
        assert len(pending.json()["items"]) == len(ids) - 1
        held = first["runs"][0]
        done = await api.post(
            f"/runs/{held['run_id']}/complete", json={"token": held["lease_token"]}, headers=ACME
        )
        assert done.status_code == 200
        again = (await api.post(f"/workers/{wid}/claim", json={"max": 5}, headers=ACME)).json()
        assert len(again["runs"]) == 1


async def test_a_lease_answers_only_to_the_worker_that_claimed_it(
    api: httpx.AsyncClient,
) -> None:
    """Worker B, which claimed nothing, can neither report, heartbeat nor guess its way
    into worker A's lease: every try answers lost and the run stays A's, running."""
    (run_id,) = await runs_of(api, 1)
    a = await register(api)
    b = await register(api)
    (claimed,) = (await api.post(f"/workers/{a}/claim", json={}, headers=ACME)).json()["runs"]
    token = claimed["lease_token"]
    # B presents A's real token (leaked), then guesses of the old small-integer kind.
    guesses = [token, *(str(n) for n in range(1, 6))]
    for guess in guesses:
        r = await api.post(
            f"/workers/{b}/report",
            json={"outcomes": [{"run_id": run_id, "token": guess}]},
            headers=ACME,
        )
        assert r.json() == {"recorded": [], "lost": [run_id]}, guess
    beat = await api.post(f"/workers/{b}/heartbeat", json={"held": {run_id: token}}, headers=ACME)
    assert beat.json()["lost"] == [run_id]
    for guess in guesses[1:]:
        r = await api.post(f"/runs/{run_id}/complete", json={"token": guess}, headers=ACME)
        assert (r.status_code, error(r)["code"]) == (409, "LEASE_LOST")
        assert token not in r.text  # the answer never shows the lease's token
    run = (await api.get(f"/runs/{run_id}", headers=ACME)).json()
    assert (run["status"], run["worker_id"]) == ("running", a)
    r = await api.post(
        f"/workers/{a}/report",
        json={"outcomes": [{"run_id": run_id, "token": token}]},
        headers=ACME,
    )
    assert r.json() == {"recorded": [run_id], "lost": []}


async def test_lease_tokens_are_random_128_bit_values(api: httpx.AsyncClient) -> None:
    """Tokens are 32 hex digits (128 bits), all different, with no order to learn."""
    await runs_of(api, 6)
    wid = await register(api, capacity=6)
    claimed = (await api.post(f"/workers/{wid}/claim", json={"max": 6}, headers=ACME)).json()
    tokens = [r["lease_token"] for r in claimed["runs"]]
    assert len(tokens) == 6
    assert len(set(tokens)) == 6
    assert all(len(t) == 32 and int(t, 16) >= 0 for t in tokens)

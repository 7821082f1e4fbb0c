"""What an operator's tools need from the REST API: lookup by name, strict query
parameters, skipped fires, pause notes, job deletion, last runs and names on runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from adapters.http.api import create_app, header_principal
from adapters.memory.clock import FakeClock
from adapters.memory.database import MemoryDatabase
from adapters.secrets import FernetSecretBox
from domain.addresses import AddressPolicy
from domain.errors import TargetRefused
from domain.job import Job, TargetKind
from domain.run import Run
from service.loops.worker_pool import WorkerPool
from tests.api.support import ACME, GLOBEX, error
from tests.api.test_rest import lead_and_materialise, make_job, make_schedule


@pytest.fixture
async def api(db: MemoryDatabase) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(db, auth=header_principal))
    async with httpx.AsyncClient(transport=transport, base_url="http://kairos") as client:
        yield client


async def test_lists_find_objects_by_exact_name(api: httpx.AsyncClient) -> None:
    """?name= on schedules, jobs, calendars and workers answers exactly the named ones."""
    job = await make_job(api)
    other = await make_job(api, name="other")
    await make_schedule(api, job["id"])
    await make_schedule(api, other["id"], name="second")
    for doc in ({"name": "work"}, {"name": "play"}):
        assert (await api.post("/calendars", json=doc, headers=ACME)).status_code == 201
    worker = await api.post(
        "/workers/register", json={"name": "box-1", "capabilities": ["render"]}, headers=ACME
    )
    assert worker.status_code == 201, worker.text
    cases = {
        "/schedules": ("second", ["second"]),
        "/jobs": ("other", ["other"]),
        "/calendars": ("work", ["work"]),
        "/workers": ("box-1", ["box-1"]),
    }
    for path, (name, expected) in cases.items():
        r = await api.get(path, params={"name": name}, headers=ACME)
        assert r.status_code == 200, r.text
        assert [i["name"] for i in r.json()["items"]] == expected, path
        assert r.json()["next_cursor"] is None
        none = await api.get(path, params={"name": name.upper()}, headers=ACME)
        assert none.json()["items"] == [], path
        hidden = await api.get(path, params={"name": name}, headers=GLOBEX)
        assert hidden.json()["items"] == [], path


async def test_unknown_query_parameters_are_refused_naming_them(api: httpx.AsyncClient) -> None:
    """A query parameter a route does not take is 422 INVALID_REQUEST naming it; declared
    ones (aliases too), the probes and the dashboard still work."""
    job = await make_job(api)
    schedule = await make_schedule(api, job["id"])
    r = await api.get("/schedules?nme=x", headers=ACME)
    assert r.status_code == 422
    assert error(r)["code"] == "INVALID_REQUEST"
    assert error(r)["details"]["field"] == "nme"
    assert "nme" in error(r)["message"]
    typo = await api.get(f"/schedules/{schedule['id']}/next?cout=3", headers=ACME)
    assert (typo.status_code, error(typo)["details"]["field"]) == (422, "cout")
    ok = await api.get("/runs?from=2026-03-01T00:00:00Z&status=dead&limit=5", headers=ACME)
    assert ok.status_code == 200, ok.text
    assert (await api.get("/health/live?probe=1")).status_code == 200
    assert (await api.get("/openapi.json?x=1")).status_code == 200


async def test_next_with_include_skipped_lists_skipped_fires_with_their_reason(
    api: httpx.AsyncClient,
) -> None:
    """include_skipped=true adds the fires a calendar skips, each with its reason."""
    cal = await api.post(
        "/calendars",
        json={"name": "work", "holidays": [{"date": "2026-03-03", "name": "fair"}]},
        headers=ACME,
    )
    assert cal.status_code == 201, cal.text
    job = await make_job(api)
    schedule = await make_schedule(
        api,
        job["id"],
        trigger={"type": "CRON", "expression": "0 9 * * *"},
        calendar_id=cal.json()["id"],
        calendar_policy="skip",
    )
    url = f"/schedules/{schedule['id']}/next"
    plain = (await api.get(url, params={"count": 3}, headers=ACME)).json()["items"]
    assert not any(i["skipped"] for i in plain)
    full = await api.get(url, params={"count": 3, "include_skipped": "true"}, headers=ACME)
    assert full.status_code == 200, full.text
    items = full.json()["items"]
    skipped = [i for i in items if i["skipped"]]
    assert [i["local"][:10] for i in skipped] == ["2026-03-03"]
    assert skipped[0]["reason"]
    assert len([i for i in items if not i["skipped"]]) == 3


async def test_pause_takes_a_note_that_resume_clears(api: httpx.AsyncClient) -> None:
    """POST /pause {"note"} shows the note as state_reason until resume; too long is 422."""
    job = await make_job(api)
    schedule = await make_schedule(api, job["id"])
    url = f"/schedules/{schedule['id']}"
    long = await api.post(f"{url}/pause", json={"note": "x" * 501}, headers=ACME)
    assert (long.status_code, error(long)["details"]["field"]) == (422, "note")
    paused = await api.post(f"{url}/pause", json={"note": "vendor maintenance"}, headers=ACME)
    assert paused.status_code == 200, paused.text
    assert paused.json()["state_reason"] == "vendor maintenance"
    assert (await api.get(url, headers=ACME)).json()["state_reason"] == "vendor maintenance"
    resumed = await api.post(f"{url}/resume", headers=ACME)
    assert resumed.json()["state"] == "enabled"
    assert resumed.json().get("state_reason") is None
    bare = await api.post(f"{url}/pause", headers=ACME)
    assert (bare.json()["state"], bare.json().get("state_reason")) == ("paused", None)


async def test_errors_carry_the_right_code_and_name_the_offence(api: httpx.AsyncClient) -> None:
    """A bad query instant or job timeout is INVALID_REQUEST; a non-JSON body says so;
    a wrong trigger key is named as unknown; an unknown job_id is 422 naming job_id."""
    yesterday = await api.get("/runs?from=yesterday", headers=ACME)
    assert (yesterday.status_code, error(yesterday)["code"]) == (422, "INVALID_REQUEST")
    assert error(yesterday)["details"]["field"] == "from"
    timeout = await api.post(
        "/jobs",
        json={"name": "t", "target": {"kind": "EVENT", "config": {"subject": "a"}}, "timeout": "x"},
        headers=ACME,
    )
    assert (timeout.status_code, error(timeout)["code"]) == (422, "INVALID_REQUEST")
    assert error(timeout)["details"]["field"] == "timeout"
    raw = await api.post(
        "/jobs",
        content=b'{"name": "t", "target": {"kind": "EVENT", "config": {"subject": "a"}}}',
        headers=ACME,
    )
    assert (raw.status_code, error(raw)["details"]["field"]) == (415, "Content-Type")
    assert "Content-Type: application/json" in error(raw)["message"]
    job = await make_job(api)
    cron = await api.post(
        "/schedules",
        json={"name": "s", "job_id": job["id"], "trigger": {"type": "CRON", "cron": "* * * * *"}},
        headers=ACME,
    )
    assert (cron.status_code, error(cron)["details"]["field"]) == (422, "trigger.cron")
    assert "unknown key" in error(cron)["message"]
    missing = await api.post(
        "/schedules",
        json={
            "name": "s",
            "job_id": "00000000-0000-0000-0000-000000000001",
            "trigger": {"type": "CRON", "expression": "* * * * *"},
        },
        headers=ACME,
    )
    assert (missing.status_code, error(missing)["code"]) == (422, "INVALID_REQUEST")
    assert error(missing)["details"]["field"] == "job_id"


async def test_delete_job_is_refused_while_used_then_deletes_it_and_keeps_its_runs(
    api: httpx.AsyncClient, db: MemoryDatabase
) -> None:
    """DELETE /jobs/{id}: 409 naming the schedules using it; once they are gone 204, the
    job and its secrets are gone, its runs stay readable, job.deleted is emitted and
    the call is audited."""
    job = await make_job(api)
    schedule = await make_schedule(api, job["id"])
    run = await api.post(f"/schedules/{schedule['id']}/trigger", headers=ACME)
    assert run.status_code == 201, run.text
    refused = await api.delete(f"/jobs/{job['id']}", headers=ACME)
    assert (refused.status_code, error(refused)["code"]) == (409, "CONFLICT")
    assert error(refused)["details"]["schedules"] == ["every-minute"]
    assert "every-minute" in error(refused)["message"]
    assert (await api.delete(f"/schedules/{schedule['id']}", headers=ACME)).status_code == 204
    assert (await api.delete(f"/jobs/{job['id']}", headers=GLOBEX)).status_code == 404
    gone = await api.delete(f"/jobs/{job['id']}", headers=ACME)
    assert gone.status_code == 204, gone.text
    assert (await api.get(f"/jobs/{job['id']}", headers=ACME)).status_code == 404
    assert (await api.get(f"/runs/{run.json()['id']}", headers=ACME)).status_code == 200
    assert [e.data["name"] for e in db.outbox if e.type.value == "scheduler.job.deleted"] == [
        "report"
    ]
    trail = (await api.get("/audit", headers=ACME)).json()["items"]
    assert any(e["method"] == "DELETE" and e["path"] == f"/jobs/{job['id']}" for e in trail)
    again = await make_job(api)  # the name is free
    assert again["id"] != job["id"]


async def test_fixed_delay_without_start_at_is_anchored_at_its_creation(
    api: httpx.AsyncClient,
) -> None:
    """A FIXED_DELAY schedule without start_at starts at its creation time (the API's
    clock) and fires every period from there."""
    job = await make_job(api)
    made = await make_schedule(api, job["id"], trigger={"type": "FIXED_DELAY", "every": "PT10M"})
    assert made["start_at"] == "2026-03-01T12:00:00Z"
    items = (await api.get(f"/schedules/{made['id']}/next?count=2", headers=ACME)).json()["items"]
    assert [i["nominal_at"] for i in items] == ["2026-03-01T12:00:00Z", "2026-03-01T12:10:00Z"]
    given = await make_schedule(
        api,
        job["id"],
        name="anchored",
        trigger={"type": "FIXED_DELAY", "every": "PT10M"},
        start_at="2026-03-05T00:00:00Z",
    )
    assert given["start_at"] == "2026-03-05T00:00:00Z"


async def test_the_openapi_trigger_examples_are_accepted(api: httpx.AsyncClient) -> None:
    """Each trigger example the OpenAPI document shows creates a schedule; the QUEUE
    target's text names the queue key the API takes."""
    document = (await api.get("/openapi.json")).json()
    job = await make_job(api)
    schemas = document["components"]["schemas"]
    target = schemas["TargetIn"]["properties"]["config"]["description"]
    assert "QUEUE: {queue}" in target
    rrule = next(o for o in _options(schemas) if o.get("title") == "RRULE")
    for n, example in enumerate(rrule["properties"]["rrule"]["examples"]):
        r = await api.post(
            "/schedules",
            json={
                "name": f"r{n}",
                "job_id": job["id"],
                "trigger": {"type": "RRULE", "rrule": example},
            },
            headers=ACME,
        )
        assert r.status_code == 201, (example, r.text)


def _options(node: object) -> Iterator[dict[str, Any]]:
    """Every ``oneOf`` option anywhere in an OpenAPI fragment."""
    if isinstance(node, dict):
        yield from (o for o in node.get("oneOf", []) if isinstance(o, dict))
        for value in node.values():
            yield from _options(value)
    elif isinstance(node, list):
        for value in node:
            yield from _options(value)


async def test_an_http_target_the_guard_refuses_as_written_is_refused_on_write(
    db: MemoryDatabase,
) -> None:
    """A literal loopback/private address or localhost in an HTTP job's URL is 422
    naming target.config.url (create and patch); a name passes; a policy admitting
    loopback (a dev stack) accepts 127.0.0.1."""
    box = FernetSecretBox(FernetSecretBox.generate_key())

    def http(url: str) -> dict[str, Any]:
        return {"name": "hook", "target": {"kind": "HTTP", "config": {"url": url}}}

    transport = httpx.ASGITransport(app=create_app(db, auth=header_principal, secrets=box))
    async with httpx.AsyncClient(transport=transport, base_url="http://kairos") as api:
        for url in ("http://127.0.0.1:9000/h", "http://localhost/h", "https://10.0.0.7/h"):
            r = await api.post("/jobs", json=http(url), headers=ACME)
            assert (r.status_code, error(r)["details"]["field"]) == (422, "target.config.url"), url
            assert "SSRF guard" in error(r)["message"]
        ok = await api.post("/jobs", json=http("https://hooks.example.com/h"), headers=ACME)
        assert ok.status_code == 201, ok.text
        patch = await api.patch(
            f"/jobs/{ok.json()['id']}",
            json={"target": {"kind": "HTTP", "config": {"url": "http://[::1]/h"}}},
            headers=ACME,
        )
        assert (patch.status_code, error(patch)["details"]["field"]) == (422, "target.config.url")
    dev = create_app(
        db, auth=header_principal, secrets=box, addresses=AddressPolicy(allow_loopback=True)
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=dev), base_url="http://kairos"
    ) as api:
        local = await api.post(
            "/jobs", json={**http("http://127.0.0.1:9000/h"), "name": "local"}, headers=ACME
        )
        assert local.status_code == 201, local.text


class Refused:
    async def execute(self, run: Run, job: Job) -> None:
        raise TargetRefused("refused by the SSRF guard: hooks.internal -> 10.0.0.5 is private")


async def test_a_delivery_the_guard_refuses_ends_the_run_at_once(
    api: httpx.AsyncClient, db: MemoryDatabase, clock: FakeClock
) -> None:
    """The SSRF guard's refusal at delivery is final: the run is dead after one attempt
    (of five), its reason saying why."""
    job = await make_job(api, max_attempts=5)
    await make_schedule(api, job["id"])
    await lead_and_materialise(db)
    pool = WorkerPool(db, {TargetKind.EVENT: Refused()}, clock)
    assert await pool.process() == 1
    (dead,) = (await api.get("/runs?status=dead", headers=ACME)).json()["items"]
    assert "SSRF guard" in dead["reason"]
    detail = (await api.get(f"/runs/{dead['id']}", headers=ACME)).json()
    assert len(detail["attempts"]) == 1


async def test_runs_and_their_events_carry_the_schedule_and_job_names(
    api: httpx.AsyncClient, db: MemoryDatabase, clock: FakeClock
) -> None:
    """A run's answer and its events name its schedule and job as they were at the fire."""
    job = await make_job(api)
    schedule = await make_schedule(api, job["id"])
    run = (await api.post(f"/schedules/{schedule['id']}/trigger", headers=ACME)).json()
    assert (run["schedule_name"], run["job_name"]) == ("every-minute", "report")
    await lead_and_materialise(db)
    listed = (await api.get("/runs", headers=ACME)).json()["items"]
    assert {(r["schedule_name"], r["job_name"]) for r in listed} == {("every-minute", "report")}
    pool = WorkerPool(db, {TargetKind.EVENT: Refused()}, clock)
    await pool.process()
    events = [e for e in db.outbox if e.type.value.startswith("scheduler.run.")]
    assert events
    assert all(e.data["schedule_name"] == "every-minute" for e in events)
    assert all(e.data["job_name"] == "report" for e in events)


async def test_schedules_show_their_last_run(
    api: httpx.AsyncClient, db: MemoryDatabase, clock: FakeClock
) -> None:
    """GET /schedules and /schedules/{id} show last_run {id, status, nominal_at,
    finished_at}: null before any run, then the latest run, finished once it ended."""
    job = await make_job(api, max_attempts=1)
    schedule = await make_schedule(api, job["id"])
    url = f"/schedules/{schedule['id']}"
    assert (await api.get(url, headers=ACME)).json()["last_run"] is None
    run = (await api.post(f"{url}/trigger", headers=ACME)).json()
    shown = (await api.get(url, headers=ACME)).json()["last_run"]
    assert shown == {
        "id": run["id"],
        "status": "pending",
        "nominal_at": run["nominal_at"],
        "finished_at": None,
    }
    pool = WorkerPool(db, {TargetKind.EVENT: Refused()}, clock)
    await pool.process()
    listed = (await api.get("/schedules", params={"name": "every-minute"}, headers=ACME)).json()
    last = listed["items"][0]["last_run"]
    assert (last["id"], last["status"]) == (run["id"], "dead")
    assert last["finished_at"] is not None


async def test_a_pending_worker_run_says_no_capable_worker_is_online(
    api: httpx.AsyncClient,
) -> None:
    """A WORKER job's pending run says no capable worker is online until one that
    declares its type registers."""
    job = await make_job(api, target={"kind": "WORKER", "config": {"type": "render"}})
    schedule = await make_schedule(api, job["id"])
    run = (await api.post(f"/schedules/{schedule['id']}/trigger", headers=ACME)).json()
    shown = (await api.get(f"/runs/{run['id']}", headers=ACME)).json()
    assert shown["status"] == "pending"
    assert shown["waiting_for"].startswith("no capable worker online")
    listed = (await api.get("/runs?status=pending", headers=ACME)).json()["items"]
    assert listed[0]["waiting_for"] == shown["waiting_for"]
    worker = await api.post(
        "/workers/register", json={"name": "w", "capabilities": ["render"]}, headers=ACME
    )
    assert worker.status_code == 201, worker.text
    assert (await api.get(f"/runs/{run['id']}", headers=ACME)).json().get("waiting_for") is None

"""The REST API over the memory adapters with a fake clock (httpx in-process)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from adapters.http.api import create_app, header_principal
from adapters.memory.clock import FakeClock
from adapters.memory.database import MemoryDatabase
from domain.errors import ExecutionFailed
from domain.job import Job, TargetKind
from domain.run import Run
from service.loops.leadership import acquire_all
from service.loops.materialiser import materialise_due
from service.loops.worker_pool import WorkerPool
from tests.api.support import ACME, GLOBEX, T0, error

JOB = {"name": "report", "target": {"kind": "EVENT", "config": {"subject": "reports.generate"}}}


class Succeeding:
    async def execute(self, run: Run, job: Job) -> None:
        return None


class Failing:
    async def execute(self, run: Run, job: Job) -> None:
        raise ExecutionFailed("receiver down")


@pytest.fixture
async def api(db: MemoryDatabase) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(db, auth=header_principal))
    async with httpx.AsyncClient(transport=transport, base_url="http://kairos") as client:
        yield client


async def make_job(api: httpx.AsyncClient, **extra: Any) -> dict[str, Any]:
    r = await api.post("/jobs", json={**JOB, **extra}, headers=ACME)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def make_schedule(api: httpx.AsyncClient, job_id: str, **extra: Any) -> dict[str, Any]:
    doc = {
        "name": "every-minute",
        "job_id": job_id,
        "trigger": {"type": "CRON", "expression": "* * * * *"},
        "timezone": "Europe/Berlin",
        **extra,
    }
    r = await api.post("/schedules", json=doc, headers=ACME)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_create_read_and_list_jobs_and_schedules(
    api: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Created objects read back as created; lists page with a cursor; the tenant's
    first schedule brings its protected system.retention schedule along."""
    job = await make_job(api, max_attempts=4, backoff={"kind": "fixed", "initial": "PT10S"})
    assert (job["max_attempts"], job["backoff"]["initial"], job["priority"]) == (
        4,
        "PT10S",
        "normal",
    )
    schedule = await make_schedule(api, job["id"], payload={"n": 1})
    assert schedule["next_fire_at"] == "2026-03-01T12:00:00+00:00"
    assert schedule["state"] == "enabled"
    r = await api.get(f"/schedules/{schedule['id']}", headers=ACME)
    assert r.json() == {**schedule, "last_run": None}  # the reads add its last run
    assert r.headers["ETag"] == '"1"'
    for i in range(3):
        clock.advance(timedelta(seconds=1))  # lists are in creation order
        await make_schedule(api, job["id"], name=f"s{i}")
    page1 = (await api.get("/schedules?limit=3", headers=ACME)).json()
    page2 = (
        await api.get(f"/schedules?limit=3&cursor={page1['next_cursor']}", headers=ACME)
    ).json()
    names = [s["name"] for s in page1["items"] + page2["items"]]
    assert sorted(names[:2]) == ["every-minute", "system.retention"]  # created together
    assert names[2:] == ["s0", "s1", "s2"]
    assert page2["next_cursor"] is None


async def test_another_tenant_sees_nothing(api: httpx.AsyncClient) -> None:
    """Tenant B gets 404 for tenant A's ids and empty lists."""
    job = await make_job(api)
    schedule = await make_schedule(api, job["id"])
    for path in (f"/jobs/{job['id']}", f"/schedules/{schedule['id']}"):
        r = await api.get(path, headers=GLOBEX)
        assert (r.status_code, error(r)["code"]) == (404, "NOT_FOUND")
    assert (await api.get("/schedules", headers=GLOBEX)).json()["items"] == []
    r = await api.delete(f"/schedules/{schedule['id']}", headers=GLOBEX)
    assert r.status_code == 404


@pytest.mark.parametrize(
    ("doc", "status", "code", "field"),
    [
        (
            {"trigger": {"type": "CRON", "expression": "61 * * * *"}},
            422,
            "INVALID_SCHEDULE",
            "cron.minute",
        ),
        ({"timezone": "Mars/Olympus"}, 422, "INVALID_SCHEDULE", "timezone"),
        ({"colour": "blue"}, 422, "INVALID_REQUEST", "colour"),
        ({"overlap_policy": "sometimes"}, 422, "INVALID_REQUEST", "overlap_policy"),
        ({"catchup_window": "soon"}, 422, "INVALID_SCHEDULE", "catchup_window"),
        ({"job_id": "00000000-0000-0000-0000-000000000001"}, 422, "INVALID_REQUEST", "job_id"),
        ({"job_id": "not-a-uuid"}, 422, "INVALID_REQUEST", "job_id"),
        ({"max_catchup": True}, 422, "INVALID_REQUEST", "max_catchup"),
    ],
)
async def test_bad_schedules_answer_the_envelope_and_write_nothing(
    api: httpx.AsyncClient, doc: dict[str, Any], status: int, code: str, field: str | None
) -> None:
    """Each bad document names its problem; no schedule is stored."""
    job = await make_job(api)
    base = {
        "name": "s",
        "job_id": job["id"],
        "trigger": {"type": "CRON", "expression": "* * * * *"},
    }
    r = await api.post("/schedules", json={**base, **doc}, headers=ACME)
    assert r.status_code == status, r.text
    err = error(r)
    assert err["code"] == code
    if field is not None:
        assert err["details"]["field"] == field
    assert (await api.get("/schedules", headers=ACME)).json()["items"] == []


async def test_malformed_requests_and_unknown_routes(api: httpx.AsyncClient) -> None:
    """Bad JSON 400, missing tenant 401, bad tenant/cursor/status 422, no route 404."""
    r = await api.post(
        "/jobs", content=b"{not json", headers={**ACME, "content-type": "application/json"}
    )
    assert (r.status_code, error(r)["code"]) == (400, "INVALID_REQUEST")
    r = await api.get("/jobs")
    assert (r.status_code, error(r)["code"]) == (401, "UNAUTHORIZED")
    r = await api.get("/jobs", headers={"Kairos-Tenant": "a.b"})
    assert (r.status_code, error(r)["details"]["field"]) == (422, "tenant")
    r = await api.get("/runs?cursor=zzz", headers=ACME)
    assert (r.status_code, error(r)["details"]["field"]) == (422, "cursor")
    r = await api.get("/runs?status=sleeping", headers=ACME)
    assert (r.status_code, error(r)["details"]["field"]) == (422, "status")
    r = await api.get("/nowhere", headers=ACME)
    assert (r.status_code, error(r)["code"]) == (404, "NOT_FOUND")
    r = await api.get("/jobs/not-a-uuid", headers=ACME)
    assert (r.status_code, error(r)["details"]["errors"][0]["field"]) == (422, "path.job_id")
    r = await api.post("/jobs", json={"name": "x", "target": {"kind": "HTTP"}}, headers=ACME)
    assert (r.status_code, error(r)["details"]["field"]) == (422, "target.config.url")
    r = await api.post(
        "/jobs",
        json={**JOB, "target": {"kind": "EVENT", "config": {"subject": "a.>"}}},
        headers=ACME,
    )
    assert (r.status_code, error(r)["details"]["field"]) == (422, "target.config.subject")


async def test_patch_changes_timing_and_checks_the_version(
    api: httpx.AsyncClient, clock: FakeClock
) -> None:
    """A new rule restarts from now; a stale If-Match is a 409; no-op keeps the version."""
    job = await make_job(api)
    schedule = await make_schedule(api, job["id"])
    path = f"/schedules/{schedule['id']}"
    clock.advance(timedelta(minutes=5, seconds=30))
    r = await api.patch(
        path, json={"trigger": {"type": "CRON", "expression": "0 9 * * *"}}, headers=ACME
    )
    assert r.status_code == 200, r.text
    assert (r.json()["version"], r.json()["next_fire_at"]) == (2, "2026-03-02T08:00:00+00:00")
    assert r.json()["timezone"] == "Europe/Berlin"  # untouched timing fields are kept
    r = await api.patch(path, json={"name": "nine"}, headers={**ACME, "If-Match": '"1"'})
    assert (r.status_code, error(r)["code"]) == (409, "CONFLICT")
    r = await api.patch(path, json={"name": "every-minute"}, headers=ACME)
    assert r.json()["version"] == 2
    r = await api.patch(path, json={"timezone": "Nowhere/Land"}, headers=ACME)
    assert error(r)["details"]["field"] == "timezone"
    assert (await api.get(path, headers=ACME)).json()["timezone"] == "Europe/Berlin"


async def test_delete_cancels_waiting_runs_and_hides_the_schedule(
    api: httpx.AsyncClient, db: MemoryDatabase
) -> None:
    """DELETE answers 204; the schedule is gone (404 twice) and its pending run cancelled."""
    job = await make_job(api)
    schedule = await make_schedule(api, job["id"])
    await lead_and_materialise(db)
    r = await api.get(f"/runs?schedule_id={schedule['id']}", headers=ACME)
    assert [run["status"] for run in r.json()["items"]] == ["pending"]
    assert (await api.delete(f"/schedules/{schedule['id']}", headers=ACME)).status_code == 204
    assert (await api.get(f"/schedules/{schedule['id']}", headers=ACME)).status_code == 404
    assert (await api.delete(f"/schedules/{schedule['id']}", headers=ACME)).status_code == 404
    runs = (await api.get(f"/runs?schedule_id={schedule['id']}", headers=ACME)).json()["items"]
    assert [(run["status"], run["reason"]) for run in runs] == [("cancelled", "schedule deleted")]


async def lead_and_materialise(db: MemoryDatabase) -> None:
    async with db.system() as tx:
        epoch = await acquire_all(tx.leader, "me", timedelta(minutes=1))
    assert epoch is not None
    await materialise_due(db, fence=epoch, horizon=timedelta(0))


async def test_dead_runs_are_listed_retried_and_cancelled(
    api: httpx.AsyncClient, db: MemoryDatabase, clock: FakeClock
) -> None:
    """A run that failed its only attempt is dead; retry makes it pending; cancel ends it."""
    job = await make_job(api, max_attempts=1)
    await make_schedule(api, job["id"])
    await lead_and_materialise(db)
    pool = WorkerPool(db, {TargetKind.EVENT: Failing()}, clock)
    assert await pool.process() == 1
    dead = (await api.get("/runs?status=dead", headers=ACME)).json()["items"]
    assert len(dead) == 1
    run_id = dead[0]["id"]
    detail = (await api.get(f"/runs/{run_id}", headers=ACME)).json()
    assert [(a["number"], a["outcome"], a["error"]) for a in detail["attempts"]] == [
        (1, "failed", "receiver down")
    ]
    r = await api.post(f"/runs/{run_id}/retry", headers=ACME)
    assert (r.json()["status"], r.json()["max_attempts"]) == ("pending", 2)
    r = await api.post(f"/runs/{run_id}/retry", headers=ACME)
    assert (r.status_code, error(r)["code"]) == (409, "CONFLICT")
    r = await api.post(f"/runs/{run_id}/cancel", headers=ACME)
    assert r.json()["status"] == "cancelled"
    r = await api.post(f"/runs/{run_id}/cancel", headers=GLOBEX)
    assert r.status_code == 404
    statuses = {e.type.value for e in db.outbox}
    assert {"scheduler.run.dead", "scheduler.run.cancelled"} <= statuses


async def statuses_of(api: httpx.AsyncClient, schedule_id: str) -> list[tuple[str, str]]:
    r = await api.get(f"/runs?schedule_id={schedule_id}&limit=500", headers=ACME)
    return sorted((run["nominal_at"], run["status"]) for run in r.json()["items"])


async def test_pause_keeps_the_next_fire_and_resume_applies_the_misfire_policy(
    api: httpx.AsyncClient, db: MemoryDatabase, clock: FakeClock
) -> None:
    """Paused 10 min then resumed (from the last fire, the default): of the 11 fires
    due (12:00..12:10), the 9 older than the 60 s misfire threshold are late; run_once
    runs the latest of them and misses 8. 12:09 and 12:10 are not late, but that run is
    still pending, so the default overlap policy (skip) records them skipped."""
    job = await make_job(api)
    schedule = await make_schedule(api, job["id"])
    path = f"/schedules/{schedule['id']}"
    r = await api.post(f"{path}/pause", headers=ACME)
    assert r.status_code == 200, r.text
    paused = r.json()
    assert (paused["state"], paused["next_fire_at"]) == ("paused", schedule["next_fire_at"])
    again = await api.post(f"{path}/pause", headers=ACME)
    assert again.json()["version"] == paused["version"]  # a no-op
    clock.advance(timedelta(minutes=10))
    await lead_and_materialise(db)
    assert await statuses_of(api, schedule["id"]) == []  # nothing fires while paused
    r = await api.post(f"{path}/resume", headers=ACME)
    assert (r.status_code, r.json()["state"]) == (200, "enabled")
    await lead_and_materialise(db)
    found = [status for _, status in await statuses_of(api, schedule["id"])]
    assert found == ["missed"] * 8 + ["pending", "skipped", "skipped"]


async def test_resume_from_now_owes_nothing_for_the_pause(
    api: httpx.AsyncClient, db: MemoryDatabase, clock: FakeClock
) -> None:
    """resume_from=now: the next fire is the first from now; no missed records."""
    job = await make_job(api)
    schedule = await make_schedule(api, job["id"])
    path = f"/schedules/{schedule['id']}"
    await api.post(f"{path}/pause", headers=ACME)
    clock.advance(timedelta(minutes=10))
    r = await api.post(f"{path}/resume", json={"resume_from": "now"}, headers=ACME)
    assert r.json()["next_fire_at"] == (T0 + timedelta(minutes=10)).isoformat()
    await lead_and_materialise(db)
    assert await statuses_of(api, schedule["id"]) == [
        ((T0 + timedelta(minutes=10)).isoformat(), "pending")
    ]


async def test_pause_cancels_runs_not_yet_due_and_resume_checks_its_input(
    api: httpx.AsyncClient, db: MemoryDatabase
) -> None:
    """Runs materialised ahead (dispatch still in the future) are cancelled by a pause;
    the due one still runs. A bad resume_from is a 422; a deleted schedule a 404."""
    job = await make_job(api)
    schedule = await make_schedule(api, job["id"], overlap_policy="allow")
    path = f"/schedules/{schedule['id']}"
    async with db.system() as tx:
        epoch = await acquire_all(tx.leader, "me", timedelta(minutes=1))
    assert epoch is not None
    await materialise_due(db, fence=epoch, horizon=timedelta(minutes=2))
    await api.post(f"{path}/pause", headers=ACME)
    found = await statuses_of(api, schedule["id"])
    assert [status for _, status in found] == ["pending", "cancelled", "cancelled"]
    r = await api.post(f"{path}/resume", json={"resume_from": "yesterday"}, headers=ACME)
    assert (r.status_code, error(r)["details"]["field"]) == (422, "resume_from")
    assert (await api.get(path, headers=ACME)).json()["state"] == "paused"  # nothing written
    await api.delete(path, headers=ACME)
    assert (await api.post(f"{path}/resume", headers=ACME)).status_code == 404
    assert (await api.post(f"{path}/pause", headers=ACME)).status_code == 404


async def test_trigger_with_an_idempotency_key_makes_one_run(
    api: httpx.AsyncClient, clock: FakeClock
) -> None:
    """The same key twice answers the same run (201 then 200); no key, a new run each
    time; the request's payload is merged over the schedule's."""
    job = await make_job(api)
    schedule = await make_schedule(api, job["id"], payload={"a": 1}, overlap_policy="allow")
    path = f"/schedules/{schedule['id']}/trigger"
    key = {**ACME, "Idempotency-Key": "deploy-42"}
    first = await api.post(path, json={"payload": {"b": 2}}, headers=key)
    assert first.status_code == 201, first.text
    assert first.headers["Location"] == f"/runs/{first.json()['id']}"
    run = first.json()
    assert (run["origin"], run["status"], run["payload"]) == ("manual", "pending", {"a": 1, "b": 2})
    clock.advance(timedelta(seconds=5))
    again = await api.post(path, json={"payload": {"b": 3}}, headers=key)
    assert (again.status_code, again.json()["id"]) == (200, run["id"])
    plain = [await api.post(path, headers=ACME) for _ in range(2)]
    assert [r.status_code for r in plain] == [201, 201]
    assert len({run["id"], *(r.json()["id"] for r in plain)}) == 3
    listed = await api.get(f"/schedules/{schedule['id']}/runs", headers=ACME)
    assert len(listed.json()["items"]) == 3


async def test_trigger_follows_the_overlap_policy_unless_overridden(
    api: httpx.AsyncClient,
) -> None:
    """Under skip, a trigger meeting a pending run is recorded skipped (overlap); with
    overlap_policy=allow in the request it runs."""
    job = await make_job(api)
    schedule = await make_schedule(api, job["id"])
    path = f"/schedules/{schedule['id']}/trigger"
    assert (await api.post(path, headers=ACME)).json()["status"] == "pending"
    skipped = (await api.post(path, headers=ACME)).json()
    assert (skipped["status"], skipped["reason"]) == ("skipped", "overlap")
    forced = await api.post(path, json={"overlap_policy": "allow"}, headers=ACME)
    assert forced.json()["status"] == "pending"


async def test_trigger_refuses_bad_input_and_unknown_schedules(api: httpx.AsyncClient) -> None:
    """Bad fields are 422 with the field named, nothing written; a deleted or unknown
    schedule is 404; a paused one can still be triggered."""
    job = await make_job(api)
    schedule = await make_schedule(api, job["id"])
    path = f"/schedules/{schedule['id']}/trigger"
    for body, headers, field in [
        ({"payload": [1]}, ACME, "payload"),
        ({"overlap_policy": "sometimes"}, ACME, "overlap_policy"),
        ({"when": "now"}, ACME, "when"),
        ({}, {**ACME, "Idempotency-Key": "k" * 201}, "Idempotency-Key"),
    ]:
        r = await api.post(path, json=body, headers=headers)
        assert (r.status_code, error(r)["details"]["field"]) == (422, field), body
    assert (await api.get(f"/schedules/{schedule['id']}/runs", headers=ACME)).json()["items"] == []
    assert (await api.post(path, headers=GLOBEX)).status_code == 404  # another tenant's
    await api.post(f"/schedules/{schedule['id']}/pause", headers=ACME)
    assert (await api.post(path, headers=ACME)).status_code == 201
    await api.delete(f"/schedules/{schedule['id']}", headers=ACME)
    assert (await api.post(path, headers=ACME)).status_code == 404
    assert (await api.post(f"/schedules/{uuid.uuid4()}/trigger", headers=ACME)).status_code == 404


async def test_next_previews_the_stored_schedule_as_kairos_next_does(
    api: httpx.AsyncClient,
) -> None:
    """GET /schedules/{id}/next?count=3: the next three fires from the schedule's next
    fire, in kairos next's JSON shape; a bad count is 422."""
    job = await make_job(api)
    schedule = await make_schedule(
        api, job["id"], trigger={"type": "CRON", "expression": "30 2 * * *"}
    )
    r = await api.get(f"/schedules/{schedule['id']}/next?count=3", headers=ACME)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["local"] for i in items] == [
        "2026-03-02T02:30:00+01:00",
        "2026-03-03T02:30:00+01:00",
        "2026-03-04T02:30:00+01:00",
    ]
    assert set(items[0]) == {
        "nominal_at",
        "dispatch_at",
        "local",
        "dispatch_local",
        "skipped",
        "notes",
    }
    assert r.json()["exhausted"] is False
    bad = await api.get(f"/schedules/{schedule['id']}/next?count=0", headers=ACME)
    assert bad.status_code == 422


async def test_backfill_answers_the_backfill_and_its_progress(
    api: httpx.AsyncClient, clock: FakeClock
) -> None:
    """POST .../backfill: 201 with the counts, 200 and the same id when repeated;
    GET /backfills/{id} adds progress; bad requests are 422 naming the field, another
    tenant's schedule or backfill a 404."""
    job = await make_job(api)
    schedule = await make_schedule(api, job["id"])
    clock.advance(timedelta(hours=1))
    path = f"/schedules/{schedule['id']}/backfill"
    body = {"from": "2026-03-01T11:00:00Z", "to": "2026-03-01T11:30:00Z"}
    r = await api.post(path, json=body, headers=ACME)
    assert r.status_code == 201, r.text
    made = r.json()
    assert (made["planned"], made["created"], made["existing"]) == (30, 30, 0)
    assert made["overlap_policy"] == "buffer_all"
    assert r.headers["Location"] == f"/backfills/{made['id']}"
    again = await api.post(path, json=body, headers=ACME)
    assert (again.status_code, again.json()["id"]) == (200, made["id"])
    shown = (await api.get(f"/backfills/{made['id']}", headers=ACME)).json()
    assert shown["progress"]["runs"] == 30
    assert shown["progress"]["ended"] == 0
    assert sum(shown["progress"]["by_status"].values()) == 30
    assert (await api.get(f"/backfills/{made['id']}", headers=GLOBEX)).status_code == 404
    assert (await api.post(path, json=body, headers=GLOBEX)).status_code == 404
    for bad, field in [
        ({"from": "2026-03-01T11:00:00Z"}, "to"),
        ({**body, "to": "2026-03-09T00:00:00Z"}, "to"),
        ({**body, "from": "2026-03-01T11:30:00Z"}, "from"),
        ({**body, "max_runs": 0}, "max_runs"),
        ({**body, "overlap_policy": "skip"}, "overlap_policy"),
        ({**body, "ignore_calendar": "yes"}, "ignore_calendar"),
        ({**body, "until": "later"}, "until"),
        ({**body, "from": "yesterday"}, "from"),
    ]:
        r = await api.post(path, json=bad, headers=ACME)
        assert (r.status_code, error(r)["details"].get("field")) == (422, field), bad


async def test_stats_answer_counts_rates_and_percentiles(
    api: httpx.AsyncClient, db: MemoryDatabase, clock: FakeClock
) -> None:
    """GET /stats and /schedules/{id}/stats after one run succeeded: its counts, a
    success rate of 1, its duration and lateness; a bad `since` is 422."""
    job = await make_job(api)
    schedule = await make_schedule(api, job["id"], overlap_policy="allow")
    await lead_and_materialise(db)
    clock.advance(timedelta(seconds=3))
    pool = WorkerPool(db, {TargetKind.EVENT: Succeeding()}, clock, capacity=4)
    assert await pool.process() == 1
    for path in ("/stats", f"/schedules/{schedule['id']}/stats"):
        r = await api.get(path, headers=ACME)
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["runs"], body["by_status"], body["success_rate"]) == (
            1,
            {"succeeded": 1},
            1.0,
        )
        assert body["lateness_ms"]["p50"] == 3000.0
        assert body["duration_ms"]["p50"] == 0.0  # the fake clock did not move meanwhile
    bad = await api.get("/stats?since=last-week", headers=ACME)
    assert (bad.status_code, error(bad)["details"]["field"]) == (422, "since")
    other = await api.get(f"/schedules/{schedule['id']}/stats", headers=GLOBEX)
    assert other.status_code == 404


async def make_calendar(api: httpx.AsyncClient, **extra: Any) -> dict[str, Any]:
    doc = {"name": "bavaria", "business_days": ["mon", "tue", "wed", "thu", "fri"], **extra}
    r = await api.post("/calendars", json=doc, headers=ACME)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_calendars_are_created_read_listed_revised_and_deleted(
    api: httpx.AsyncClient,
) -> None:
    """Each change is a new version; a calendar in use cannot be deleted (409), an
    unused one can; another tenant sees none of it."""
    made = await make_calendar(
        api, holidays=[{"date": "2026-12-24", "name": "Heiligabend"}], sources=["DE-BY"]
    )
    assert (made["version"], made["sources"], made["business_days"][0]) == (1, ["DE-BY"], "mon")
    path = f"/calendars/{made['id']}"
    assert (await api.get(path, headers=ACME)).json() == made
    assert [c["id"] for c in (await api.get("/calendars", headers=ACME)).json()["items"]] == [
        made["id"]
    ]
    revised = await api.patch(path, json={"business_days": [0, 1, 2, 3]}, headers=ACME)
    assert (revised.json()["version"], revised.json()["business_days"]) == (
        2,
        ["mon", "tue", "wed", "thu"],
    )
    same = await api.patch(path, json={"business_days": [0, 1, 2, 3]}, headers=ACME)
    assert same.json()["version"] == 2  # unchanged: no new version
    assert (await api.get(path, headers=GLOBEX)).status_code == 404
    assert (await api.get("/calendars", headers=GLOBEX)).json()["items"] == []
    job = await make_job(api)
    schedule = await make_schedule(api, job["id"], calendar_id=made["id"])
    r = await api.delete(path, headers=ACME)
    assert (r.status_code, error(r)["code"]) == (409, "CONFLICT")
    assert error(r)["details"]["schedules"] == 1
    await api.delete(f"/schedules/{schedule['id']}", headers=ACME)
    assert (await api.delete(path, headers=ACME)).status_code == 409  # history names it
    spare = await make_calendar(api, name="spare")
    assert (await api.delete(f"/calendars/{spare['id']}", headers=ACME)).status_code == 204
    assert (await api.get(f"/calendars/{spare['id']}", headers=ACME)).status_code == 404


async def test_bad_calendars_and_references_answer_422_naming_the_field(
    api: httpx.AsyncClient,
) -> None:
    """Bad weekdays, dates, sources (an unknown country is found at once, not at the
    first fire); a schedule naming an unknown or foreign calendar."""
    for doc, field in [
        ({"name": "x", "business_days": ["someday"]}, "business_days"),
        ({"name": "x", "business_days": []}, "business_days"),
        ({"name": "x", "holidays": [{"date": "24.12.2026"}]}, "holidays[0].date"),
        ({"name": "x", "sources": [{"country": "XX"}]}, "holidays.country"),
        ({"name": "x", "sources": [{"ical": "not a calendar"}]}, "ical"),
        ({"name": "x", "colour": "red"}, "colour"),
        ({"business_days": [0]}, "name"),
    ]:
        r = await api.post("/calendars", json=doc, headers=ACME)
        assert (r.status_code, error(r)["details"].get("field")) == (422, field), doc
    assert (await api.get("/calendars", headers=ACME)).json()["items"] == []
    foreign = await api.post("/calendars", json={"name": "theirs"}, headers=GLOBEX)
    job = await make_job(api)
    for calendar_id in (str(uuid.uuid4()), foreign.json()["id"]):
        doc = {
            "name": "with-calendar",
            "job_id": job["id"],
            "trigger": {"type": "CRON", "expression": "0 9 * * *"},
            "calendar_id": calendar_id,
        }
        r = await api.post("/schedules", json=doc, headers=ACME)
        assert (r.status_code, error(r)["details"]["field"]) == (422, "calendar_id")


async def test_a_holiday_added_to_the_calendar_moves_the_next_fire(
    api: httpx.AsyncClient, db: MemoryDatabase, clock: FakeClock
) -> None:
    """Mondays 09:00 Berlin, next business day on holidays: Monday's fire is dispatched
    on Tuesday once Monday becomes a holiday, in the preview and in the run (which
    records the calendar version it was planned with)."""
    calendar = await make_calendar(api)
    job = await make_job(api)
    schedule = await make_schedule(
        api,
        job["id"],
        trigger={"type": "CRON", "expression": "0 9 * * 1"},
        calendar_id=calendar["id"],
        calendar_policy="next_business_day",
    )
    path = f"/schedules/{schedule['id']}/next?count=1"
    first = (await api.get(path, headers=ACME)).json()["items"][0]
    assert (first["local"], first["dispatch_local"]) == (
        "2026-03-02T09:00:00+01:00",
        "2026-03-02T09:00:00+01:00",
    )
    await api.patch(
        f"/calendars/{calendar['id']}",
        json={"holidays": [{"date": "2026-03-02", "name": "Betriebsausflug"}]},
        headers=ACME,
    )
    moved = (await api.get(path, headers=ACME)).json()["items"][0]
    assert (moved["local"], moved["dispatch_local"]) == (
        "2026-03-02T09:00:00+01:00",
        "2026-03-03T09:00:00+01:00",
    )
    clock.advance(timedelta(hours=20))  # Monday 08:00 UTC, 09:00 in Berlin
    await lead_and_materialise(db)
    runs = (await api.get(f"/schedules/{schedule['id']}/runs", headers=ACME)).json()["items"]
    assert [(r["status"], r["dispatch_at"]) for r in runs] == [
        ("scheduled", "2026-03-03T08:00:00+00:00")
    ]
    assert runs[0]["calendar"] == {"id": calendar["id"], "version": 2}


async def test_system_schedules_answer_403_and_system_names_are_reserved(
    api: httpx.AsyncClient,
) -> None:
    """The tenant sees its system.retention schedule; changing, pausing, resuming or
    deleting it is 403 FORBIDDEN; users cannot name things system.* or use SYSTEM."""
    job = await make_job(api)
    await make_schedule(api, job["id"])
    listed = (await api.get("/schedules", headers=ACME)).json()["items"]
    retention = next(s for s in listed if s["name"] == "system.retention")
    assert retention["system"] is True
    path = f"/schedules/{retention['id']}"
    for call in (
        api.patch(path, json={"name": "mine"}, headers=ACME),
        api.post(f"{path}/pause", headers=ACME),
        api.post(f"{path}/resume", headers=ACME),
        api.delete(path, headers=ACME),
    ):
        r = await call
        assert (r.status_code, error(r)["code"]) == (403, "FORBIDDEN")
    assert (await api.get(path, headers=ACME)).json()["state"] == "enabled"
    r = await api.post("/jobs", json={**JOB, "name": "system.mine"}, headers=ACME)
    assert (r.status_code, error(r)["details"]["field"]) == (422, "name")
    r = await api.post(
        "/jobs", json={**JOB, "name": "x", "target": {"kind": "SYSTEM"}}, headers=ACME
    )
    assert (r.status_code, error(r)["details"]["field"]) == (422, "target.kind")

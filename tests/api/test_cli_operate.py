"""The operator commands (`kairos get|describe|trigger|...`) against the API in-process:
names resolve through the API, answers print as tables or as the API's own JSON."""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import yaml

from adapters.http.api import create_app, header_principal
from adapters.memory.clock import FakeClock
from adapters.memory.database import MemoryDatabase
from service.cli import operate
from service.cli.client import ApiClient, ApiError, CliError, Connection
from tests.api.support import ACME, T0

JOB = {"name": "report", "target": {"kind": "EVENT", "config": {"subject": "reports.generate"}}}


@pytest.fixture
async def api(db: MemoryDatabase) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(db, auth=header_principal))
    async with httpx.AsyncClient(transport=transport, base_url="http://kairos") as client:
        yield client


@pytest.fixture
async def cli(db: MemoryDatabase) -> AsyncIterator[ApiClient]:
    transport = httpx.ASGITransport(app=create_app(db, auth=header_principal))
    conn = Connection(url="http://kairos", token=None, headers=ACME)
    async with ApiClient(conn, transport=transport) as client:
        yield client


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="kairos")
    operate.add_commands(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


async def say(cli: ApiClient, *argv: str) -> str:
    """What the command prints."""
    lines: list[str] = []
    await operate.execute(parse(*argv), cli, lines.append, now=T0)
    return "\n".join(lines)


async def setup(api: httpx.AsyncClient, name: str = "nightly") -> tuple[dict[str, Any], ...]:
    job = (await api.post("/jobs", json=JOB, headers=ACME)).json()
    r = await api.post(
        "/schedules",
        json={
            "name": name,
            "job_id": job["id"],
            "trigger": {"type": "CRON", "expression": "0 3 * * *"},
            "timezone": "Europe/Berlin",
        },
        headers=ACME,
    )
    assert r.status_code == 201, r.text
    return job, r.json()


async def test_get_schedules_prints_an_aligned_table_and_json_is_the_apis(
    api: httpx.AsyncClient, cli: ApiClient
) -> None:
    """`get schedules` lines up its columns; `-o json` prints the API's items unchanged."""
    _, schedule = await setup(api)
    text = await say(cli, "get", "schedules")
    header, *rows = text.splitlines()
    assert header.split() == [
        "NAME",
        "STATE",
        "TRIGGER",
        "TIMEZONE",
        "NEXT",
        "FIRE",
        "(UTC)",
        "FIRES",
        "ID",
    ]
    nightly = next(r for r in rows if r.startswith("nightly "))
    assert header.index("STATE") == nightly.index("enabled")
    assert "cron 0 3 * * *" in nightly
    assert "2026-03-02T02:00:00Z" in nightly
    assert "\x1b[" not in text
    listed = (await api.get("/schedules", headers=ACME)).json()["items"]
    doc = json.loads(await say(cli, "get", "schedules", "-o", "json"))
    assert doc == {"items": listed, "next_cursor": None}
    one = json.loads(await say(cli, "get", "schedule", "nightly", "-o", "json"))
    assert one == (await api.get(f"/schedules/{schedule['id']}", headers=ACME)).json()
    assert yaml.safe_load(await say(cli, "get", "schedule", "nightly", "-o", "yaml")) == one


async def test_names_follow_every_page_and_match_exactly(
    api: httpx.AsyncClient, cli: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name past the first page is found (pages of 2 here); `nightly` does not match
    `nightly-2`; an id resolves as well."""
    monkeypatch.setattr("service.cli.client.PAGE", 2)
    job, _ = await setup(api, "nightly-2")
    for n in range(4):
        r = await api.post(
            "/schedules",
            json={
                "name": f"s{n}",
                "job_id": job["id"],
                "trigger": {"type": "CRON", "expression": "0 3 * * *"},
            },
            headers=ACME,
        )
        assert r.status_code == 201
    last = r.json()
    assert (await operate.resolve(cli, "schedule", "s3"))["id"] == last["id"]
    assert (await operate.resolve(cli, "schedule", last["id"]))["name"] == "s3"
    with pytest.raises(CliError) as unknown:
        await operate.resolve(cli, "schedule", "nightly")
    assert (unknown.value.text, unknown.value.exit_code) == ("no schedule named 'nightly'", 1)
    items = json.loads(await say(cli, "get", "schedules", "-o", "json", "--limit", "3"))["items"]
    assert len(items) == 3


async def test_ambiguous_worker_name_is_exit_2(api: httpx.AsyncClient, cli: ApiClient) -> None:
    """Two workers share a name: `get workers NAME` lists both, resolving one is exit 2."""
    for _ in range(2):
        r = await api.post(
            "/workers/register", json={"name": "w", "capabilities": ["x"]}, headers=ACME
        )
        assert r.status_code == 201
    rows = (await say(cli, "get", "workers", "w")).splitlines()[1:]
    assert len(rows) == 2
    assert all(row.startswith("w ") for row in rows)
    with pytest.raises(CliError) as ambiguous:
        await operate.resolve(cli, "worker", "w")
    assert ambiguous.value.exit_code == 2
    assert "2 workers are named 'w'" in ambiguous.value.text


async def test_api_errors_carry_the_envelope(cli: ApiClient) -> None:
    """An API error is one ApiError with the envelope's code, message and field."""
    with pytest.raises(ApiError) as refused:
        await say(cli, "get", "runs", "--status", "bogus")
    assert refused.value.code == "INVALID_REQUEST"
    assert refused.value.text.startswith("INVALID_REQUEST: unknown status 'bogus'")
    assert refused.value.text.endswith("(field: status)")


async def test_trigger_retry_and_cancel_answer_the_run(
    api: httpx.AsyncClient, cli: ApiClient
) -> None:
    """`trigger` with a payload and key makes one run (the same key answers it again);
    `cancel` ends it; `-o json` is the API's run."""
    _, schedule = await setup(api)
    first = json.loads(
        await say(
            cli,
            "trigger",
            "nightly",
            "--payload",
            '{"n": 1}',
            "--idempotency-key",
            "k",
            "-o",
            "json",
        )
    )
    assert first["payload"] == {"n": 1}
    assert first["schedule_id"] == schedule["id"]
    again = await say(cli, "trigger", "nightly", "--idempotency-key", "k")
    assert again.startswith(f"run {first['id']} already made for this idempotency key")
    assert await say(cli, "cancel", first["id"]) == f"run {first['id']}: cancelled"
    stored = (await api.get(f"/runs/{first['id']}", headers=ACME)).json()
    assert stored["status"] == "cancelled"
    with pytest.raises(ApiError) as refused:
        await say(cli, "retry", first["id"])
    assert refused.value.status in (409, 422)


async def test_pause_with_a_note_shows_it_until_resume(
    api: httpx.AsyncClient, cli: ApiClient
) -> None:
    """`pause --note` pauses with the note as the schedule's state_reason; resume clears it."""
    _, schedule = await setup(api)
    await say(cli, "pause", "nightly", "--note", "maintenance")
    url = f"/schedules/{schedule['id']}"
    paused = (await api.get(url, headers=ACME)).json()
    assert (paused["state"], paused["state_reason"]) == ("paused", "maintenance")
    resumed = await say(cli, "resume", "nightly", "--from", "now")
    assert resumed.startswith("schedule nightly: enabled, next fire 2026-03-02T02:00:00Z (in ")
    assert (await api.get(url, headers=ACME)).json().get("state_reason") is None


async def test_describe_shows_spec_next_fires_runs_and_stats(
    api: httpx.AsyncClient, cli: ApiClient
) -> None:
    """`describe schedule` shows the job, the next fires the API plans, the last run and
    the stats; `-o json` bundles the API's documents."""
    _, schedule = await setup(api)
    await say(cli, "trigger", "nightly")
    text = await say(cli, "describe", "schedule", "nightly", "--count", "3")
    assert "Job:" in text
    assert "report (EVENT reports.generate)" in text
    assert "Next fire:" in text
    assert "2026-03-02T02:00:00Z (in 14h)" in text
    assert "Last run:" in text
    assert "pending" in text
    last = (await api.get(f"/schedules/{schedule['id']}", headers=ACME)).json()["last_run"]
    assert f"pending for {last['nominal_at'].replace('+00:00', 'Z')}" in text
    assert last["id"] in text
    assert "skipped fires: not listed" not in text  # the server lists them
    upcoming = (await api.get(f"/schedules/{schedule['id']}/next?count=3", headers=ACME)).json()
    for fire in upcoming["items"]:
        assert fire["local"] in text
    assert "Stats since" in text
    assert "Success rate:" in text
    doc = json.loads(await say(cli, "describe", "schedule", "nightly", "-o", "json"))
    assert set(doc) == {"schedule", "job", "next", "runs", "stats"}
    assert doc["schedule"] == (await api.get(f"/schedules/{schedule['id']}", headers=ACME)).json()


async def test_get_runs_filters_by_schedule_name_and_shows_names(
    api: httpx.AsyncClient, cli: ApiClient
) -> None:
    """`get runs --schedule NAME` lists that schedule's runs with its name beside them."""
    await setup(api)
    run = json.loads(await say(cli, "trigger", "nightly", "-o", "json"))
    text = await say(cli, "get", "runs", "--schedule", "nightly", "--status", "pending")
    header, row = text.splitlines()
    assert header.split()[:3] == ["ID", "SCHEDULE", "STATUS"]
    assert row.split()[:4] == [run["id"], "nightly", "pending", "manual"]
    one = json.loads(await say(cli, "get", "run", run["id"], "-o", "json"))
    assert one == (await api.get(f"/runs/{run['id']}", headers=ACME)).json()


async def test_delete_schedule_calendar_and_job_by_name(
    api: httpx.AsyncClient, cli: ApiClient
) -> None:
    """Schedules, calendars and jobs delete by name; a job in use is refused until its
    schedule is gone."""
    job, schedule = await setup(api)
    cal = await api.post("/calendars", json={"name": "work"}, headers=ACME)
    assert cal.status_code == 201
    with pytest.raises(ApiError) as in_use:
        await say(cli, "delete", "job", "report")
    assert in_use.value.status == 409
    assert (await api.get(f"/jobs/{job['id']}", headers=ACME)).status_code == 200
    assert await say(cli, "delete", "schedule", "nightly") == "schedule nightly deleted"
    assert (await api.get(f"/schedules/{schedule['id']}", headers=ACME)).status_code == 404
    assert await say(cli, "delete", "calendar", "work") == "calendar work deleted"
    assert await say(cli, "delete", "job", "report") == "job report deleted"
    assert (await api.get(f"/jobs/{job['id']}", headers=ACME)).status_code == 404


async def test_backfill_answers_what_it_planned(
    api: httpx.AsyncClient, cli: ApiClient, clock: FakeClock
) -> None:
    """`backfill NAME --from --to` creates the past fires' runs and says how many."""
    await setup(api)
    text = await say(
        cli,
        "backfill",
        "nightly",
        "--from",
        "2026-02-25T00:00:00Z",
        "--to",
        "2026-02-28T00:00:00Z",
    )
    assert "planned 3, created 3" in text


async def test_a_run_is_found_by_the_start_of_its_id(
    api: httpx.AsyncClient, cli: ApiClient
) -> None:
    """`get run` and `cancel` take a unique prefix of a run id; too short is exit 2."""
    await setup(api)
    run = json.loads(await say(cli, "trigger", "nightly", "-o", "json"))
    shown = json.loads(await say(cli, "get", "run", run["id"][:8], "-o", "json"))
    assert shown["id"] == run["id"]
    assert await say(cli, "cancel", run["id"][:8]) == f"run {run['id']}: cancelled"
    with pytest.raises(CliError) as short:
        await say(cli, "retry", "ab")
    assert short.value.exit_code == 2
    with pytest.raises(CliError) as unknown:
        await say(cli, "retry", "ffffffff")
    assert unknown.value.text == "no recent run's id starts with 'ffffffff': give its whole id"


async def test_describe_lists_skipped_fires_with_their_reason(
    api: httpx.AsyncClient, cli: ApiClient
) -> None:
    """`describe schedule` shows the fires its calendar skips, each with its reason."""
    job = (await api.post("/jobs", json=JOB, headers=ACME)).json()
    cal = await api.post(
        "/calendars",
        json={"name": "work", "holidays": [{"date": "2026-03-03", "name": "fair"}]},
        headers=ACME,
    )
    r = await api.post(
        "/schedules",
        json={
            "name": "daily",
            "job_id": job["id"],
            "trigger": {"type": "CRON", "expression": "0 9 * * *"},
            "timezone": "Europe/Berlin",
            "calendar_id": cal.json()["id"],
            "calendar_policy": "skip",
        },
        headers=ACME,
    )
    assert r.status_code == 201, r.text
    text = await say(cli, "describe", "schedule", "daily", "--count", "3")
    skipped = [line for line in text.splitlines() if "skipped (" in line]
    assert len(skipped) == 1
    assert "2026-03-03" in skipped[0]

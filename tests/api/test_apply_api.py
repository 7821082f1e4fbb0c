"""`kairos apply` (service/cli/apply.py) against the API over memory adapters: the
plan, updates of only the fields that differ, HTTP secrets from the API, --prune of
what apply created, and the audit trail of each change."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from adapters.http.api import create_app, header_principal
from adapters.memory.database import MemoryDatabase
from adapters.secrets import FernetSecretBox
from domain.errors import DomainError
from domain.ids import TenantId
from service.cli.apply import apply
from service.cli.client import ApiClient, Connection
from tests.api.support import ACME

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
FILE = """
jobs:
  - name: ping
    target: {kind: EVENT, config: {subject: demo.ping}}
    timeout: 30s
  - name: hook
    target: {kind: HTTP, config: {url: "https://hooks.example.com/in"}}
schedules:
  - name: nightly
    job: ping
    trigger: {type: CRON, expression: "0 2 * * *"}
  - name: hourly
    job: hook
    trigger: {type: CRON, expression: "0 * * * *"}
"""


@pytest.fixture
async def client(db: MemoryDatabase) -> AsyncIterator[ApiClient]:
    box = FernetSecretBox(FernetSecretBox.generate_key())
    app = create_app(db, auth=header_principal, secrets=box)
    conn = Connection(url="http://kairos", token=None, headers=ACME)
    async with ApiClient(conn, transport=httpx.ASGITransport(app=app)) as api:
        yield api


async def run(client: ApiClient, text: str, **flags: Any) -> list[str]:
    lines: list[str] = []
    await apply(
        client, yaml.safe_load(text), tenant=TenantId("acme"), now=NOW, out=lines.append, **flags
    )
    return lines


async def names(client: ApiClient, path: str) -> set[str]:
    items, _ = await client.items(path)
    return {str(item["name"]) for item in items}


async def test_dry_run_changes_nothing(client: ApiClient) -> None:
    """The plan names every object; the server has none of them after it."""
    lines = await run(client, FILE, dry_run=True)
    assert lines == [
        "job ping: would be created",
        "job hook: would be created",
        "schedule nightly: would be created",
        "schedule hourly: would be created",
    ]
    assert await names(client, "/jobs") == set()


async def test_apply_creates_then_changes_only_what_differs(
    client: ApiClient, tmp_path: Path
) -> None:
    """Created through the API (audited), the HTTP secret written to the 0600 file; the
    same file again is unchanged ('30s' is the stored 'PT30S'); a changed cron is one
    PATCH of the trigger, shown by --diff with the next fires."""
    secrets = tmp_path / "secrets.json"
    created = await run(client, FILE, secrets_out=secrets)
    assert created[:4] == [
        "job ping: created",
        "job hook: created",
        "schedule nightly: created",
        "schedule hourly: created",
    ]
    assert secrets.stat().st_mode & 0o777 == 0o600
    assert "whsec_" in secrets.read_text()
    again = await run(client, FILE, secrets_out=secrets)
    assert all(line.endswith(": unchanged") for line in again)
    changed = FILE.replace('"0 2 * * *"', '"0 4 * * *"')
    diff = await run(client, changed, diff=True)
    assert "schedule nightly: updated" in diff
    assert any(line.strip().startswith("trigger:") and "0 4 * * *" in line for line in diff)
    assert "2026-03-03T04:00:00Z" in "\n".join(diff)  # after: the local planner's
    assert "2026-03-03T02:00:00Z" in "\n".join(diff)  # before: the server's /next
    trail = await client.get("/audit", limit=50)
    calls = [(e["method"], e["path"].split("/")[1]) for e in trail["items"]]
    assert calls.count(("POST", "jobs")) == 2
    assert calls.count(("POST", "schedules")) == 2
    assert calls.count(("PATCH", "schedules")) == 1


async def test_prune_deletes_only_what_apply_created(client: ApiClient, tmp_path: Path) -> None:
    """Dropped from the file: deleted with --prune when apply created it; an object
    made through the API is never touched."""
    await run(client, FILE, secrets_out=tmp_path / "s.json")
    jobs, _ = await client.items("/jobs")
    ping = next(j for j in jobs if j["name"] == "ping")
    body = {
        "name": "by-hand",
        "job_id": ping["id"],
        "trigger": {"type": "CRON", "expression": "0 6 * * *"},
    }
    await client.post("/schedules", body)
    without = FILE.split("  - name: hourly", maxsplit=1)[0]
    lines = await run(client, without, prune=True)
    assert "schedule hourly: deleted" in lines
    assert not any("by-hand" in line for line in lines)
    assert await names(client, "/schedules") >= {"nightly", "by-hand"}
    assert "hourly" not in await names(client, "/schedules")


async def test_a_bad_entry_names_its_position_and_writes_nothing(client: ApiClient) -> None:
    """The file is checked whole before any call: the error names schedules[1]."""
    bad = FILE.replace('"0 * * * *"', '"61 * * * *"')
    with pytest.raises(DomainError) as refused:
        await run(client, bad)
    assert refused.value.message.startswith("schedules[1]")
    assert await names(client, "/jobs") == set()

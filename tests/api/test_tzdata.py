"""Zone rules over the API: LW and Quartz spellings, and GET /tzdata."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from adapters.http.api import create_app, header_principal
from adapters.memory.database import MemoryDatabase
from domain.zones import zone_source
from service.loops.leadership import acquire
from service.loops.materialiser import LEADER
from service.usecases.tzdata import replan_zone_rules
from tests.api.support import ACME, GLOBEX, error
from tests.tzif import berlin_tree as tree

JOB = {"name": "report", "target": {"kind": "EVENT", "config": {"subject": "reports.generate"}}}


@pytest.fixture
async def api(db: MemoryDatabase) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(db, auth=header_principal))
    async with httpx.AsyncClient(transport=transport, base_url="http://kairos") as client:
        yield client


async def schedule(api: httpx.AsyncClient, expression: str) -> httpx.Response:
    job = await api.post("/jobs", json=JOB, headers=ACME)
    assert job.status_code == 201, job.text
    doc = {
        "name": "month-end",
        "job_id": job.json()["id"],
        "trigger": {"type": "CRON", "expression": expression},
        "timezone": "Europe/Berlin",
    }
    return await api.post("/schedules", json=doc, headers=ACME)


async def test_lw_schedules_fire_on_the_last_weekday(api: httpx.AsyncClient) -> None:
    """`0 9 LW * *` from 2026-03-01: next fire Tuesday 31 March, 09:00 CEST."""
    r = await schedule(api, "0 9 LW * *")
    assert r.status_code == 201, r.text
    assert r.json()["next_fire_at"] == "2026-03-31T07:00:00+00:00"


async def test_quartz_numbered_last_day_is_refused_saying_what_to_write(
    api: httpx.AsyncClient,
) -> None:
    """`6L` answers 422 INVALID_SCHEDULE on cron.day_of_week, naming FRIL."""
    r = await schedule(api, "0 0 9 ? * 6L")
    assert r.status_code == 422
    body = error(r)
    assert body["code"] == "INVALID_SCHEDULE"
    assert "FRIL" in body["message"]
    assert "cron.day_of_week" in str(body)


async def test_tzdata_lists_the_tenants_replanned_schedules(
    api: httpx.AsyncClient, db: MemoryDatabase, tmp_path: Path
) -> None:
    """After a change of rules, GET /tzdata shows the versions and the moved schedule
    to its own tenant only."""
    with zone_source(tree(tmp_path, "2099a", None)):
        async with db.system() as tx:
            epoch = await acquire(tx.leader, LEADER, "a", timedelta(seconds=30))
        assert epoch is not None
        await replan_zone_rules(db, holder="a", epoch=epoch)
        created = (await schedule(api, "0 12 * * *")).json()
        before = await api.get("/tzdata", headers=ACME)
        assert before.json() == {"version": "2099a", "deployment": "2099a", "items": []}
    async with db.system() as tx:
        (stored,) = [s for s, _ in await tx.tzdata.planned(None, 10) if str(s.id) == created["id"]]
    assert stored.next_fire_at is not None
    with zone_source(tree(tmp_path, "2099b", stored.next_fire_at - timedelta(hours=6))):
        await replan_zone_rules(db, holder="a", epoch=epoch)
        r = await api.get("/tzdata", headers=ACME)
        other = await api.get("/tzdata", headers=GLOBEX)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["version"], body["deployment"]) == ("2099b", "2099b")
    (item,) = body["items"]
    assert (item["schedule_id"], item["tzdata_from"], item["tzdata_to"]) == (
        created["id"],
        "2099a",
        "2099b",
    )
    assert item["new_next_fire_at"] == (stored.next_fire_at - timedelta(hours=1)).isoformat()
    assert other.json()["items"] == []

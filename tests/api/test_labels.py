"""Labels on jobs and schedules: sent on create, changed by PATCH, answered on every
read, kept in the stored document; a bad map is a 422 naming the field."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest

from adapters.http.api import create_app, header_principal
from adapters.memory.database import MemoryDatabase
from adapters.postgres.codec import job_document, reloaded_job, reloaded_schedule
from domain.ids import JobId
from tests.api.support import ACME, error
from tests.builders import job, schedule

MARK = {"kairos.dev/managed-by": "apply"}


@pytest.fixture
async def api(db: MemoryDatabase) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(db, auth=header_principal)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://kairos"
    ) as client:
        yield client


async def test_labels_round_trip_through_the_api(api: httpx.AsyncClient) -> None:
    """A job and a schedule created with labels answer them; a PATCH replaces them;
    one created without has an empty map."""
    body = {"name": "r", "target": {"kind": "EVENT", "config": {"subject": "r"}}, "labels": MARK}
    created = await api.post("/jobs", json=body, headers=ACME)
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    assert created.json()["labels"] == MARK
    trigger = {"type": "CRON", "expression": "0 3 * * *"}
    sched = {"name": "s", "job_id": job_id, "trigger": trigger, "labels": {"team": "core"}}
    sid = (await api.post("/schedules", json=sched, headers=ACME)).json()["id"]
    assert (await api.get(f"/schedules/{sid}", headers=ACME)).json()["labels"] == {"team": "core"}
    patched = await api.patch(f"/schedules/{sid}", json={"labels": MARK}, headers=ACME)
    assert patched.json()["labels"] == MARK
    plain = {"name": "p", "target": {"kind": "EVENT", "config": {"subject": "p"}}}
    assert (await api.post("/jobs", json=plain, headers=ACME)).json()["labels"] == {}


async def test_a_bad_label_map_names_the_field(api: httpx.AsyncClient) -> None:
    """A value that is not text, or too many entries: 422 naming labels."""
    body = {"name": "r", "target": {"kind": "EVENT", "config": {"subject": "r"}}}
    wrong = await api.post("/jobs", json={**body, "labels": {"a": 1}}, headers=ACME)
    assert wrong.status_code == 422
    assert "labels" in str(error(wrong)["details"])
    many = {f"k{i}": "v" for i in range(40)}
    refused = await api.post("/jobs", json={**body, "labels": many}, headers=ACME)
    assert refused.status_code == 422
    assert error(refused)["details"]["field"] == "labels"


def test_labels_are_kept_in_the_stored_documents() -> None:
    """The codec writes labels only when there are some (older documents have none)
    and reads them back."""
    bare = job()
    assert "labels" not in job_document(bare)
    marked = replace(bare, labels=MARK)
    assert reloaded_job(marked).labels == MARK
    s = replace(schedule(JobId(uuid.UUID(int=1))), labels=MARK)
    assert reloaded_schedule(s).labels == MARK

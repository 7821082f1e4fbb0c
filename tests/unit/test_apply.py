"""`kairos apply`: documents of jobs and schedules, idempotent, checked before writing."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.memory.clock import FakeClock
from adapters.memory.database import MemoryDatabase
from domain.errors import DomainError
from domain.ids import TenantId
from domain.schedule import OverlapPolicy
from service.usecases.apply import Outcome, apply

ACME = TenantId("acme")
DOC: dict[str, Any] = {
    "jobs": [
        {"name": "report", "target": {"kind": "EVENT", "config": {"subject": "reports.run"}}},
    ],
    "schedules": [
        {
            "name": "nightly",
            "job": "report",
            "trigger": {"type": "CRON", "expression": "0 2 * * *"},
            "timezone": "Europe/Berlin",
            "overlap_policy": "buffer_one",
            "payload": {"kind": "sales"},
        },
        {
            "name": "hourly",
            "job": "report",
            "trigger": {"type": "RRULE", "rrule": "FREQ=HOURLY"},
            "start_at": "2026-01-01T00:00:00Z",
        },
    ],
}


@pytest.fixture
def db() -> MemoryDatabase:
    return MemoryDatabase(FakeClock(datetime(2026, 3, 1, tzinfo=UTC)))


async def test_reapplying_an_unchanged_document_changes_nothing(db: MemoryDatabase) -> None:
    """First apply creates all; the second reports unchanged and emits no event."""
    first = await apply(db, tenant_id=ACME, document=DOC)
    assert [(c.kind, c.name, c.outcome) for c in first] == [
        ("job", "report", Outcome.CREATED),
        ("schedule", "nightly", Outcome.CREATED),
        ("schedule", "hourly", Outcome.CREATED),
    ]
    events = len(db.outbox)
    second = await apply(db, tenant_id=ACME, document=copy.deepcopy(DOC))
    assert {c.outcome for c in second} == {Outcome.UNCHANGED}
    assert len(db.outbox) == events


async def test_a_changed_or_removed_field_updates_only_that_object(db: MemoryDatabase) -> None:
    """Editing one schedule updates it; a policy left out goes back to its default."""
    await apply(db, tenant_id=ACME, document=DOC)
    doc = copy.deepcopy(DOC)
    del doc["schedules"][0]["overlap_policy"]
    changes = await apply(db, tenant_id=ACME, document=doc)
    assert [c.outcome for c in changes] == [Outcome.UNCHANGED, Outcome.UPDATED, Outcome.UNCHANGED]
    async with db.transaction(ACME) as tx:
        nightly = await tx.schedules.by_name("nightly")
    assert (nightly.overlap_policy, nightly.version) == (OverlapPolicy.SKIP, 2)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (
            lambda d: d["schedules"][1].update(trigger={"type": "CRON", "expression": "bad"}),
            "schedules[1].cron",
        ),
        (lambda d: d["schedules"][1].update(job="nope"), "schedules[1].job"),
        (lambda d: d["jobs"][0].update(colour="red"), "jobs[0].colour"),
        (lambda d: d["schedules"].append(dict(d["schedules"][0])), "schedules[2].name"),
        (lambda d: d.update(tasks=[]), "tasks"),
    ],
)
async def test_a_bad_entry_anywhere_writes_nothing(
    db: MemoryDatabase, mutate: Any, field: str
) -> None:
    """The error names the entry and field; no job or schedule was stored."""
    doc = copy.deepcopy(DOC)
    mutate(doc)
    with pytest.raises(DomainError) as caught:
        await apply(db, tenant_id=ACME, document=doc)
    assert str(caught.value.details["field"]).startswith(field)
    async with db.transaction(ACME) as tx:
        assert await tx.jobs.list(after=None, limit=10) == []
    assert db.outbox == ()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["jobs"][0].update(max_concurrency=2**31), "max_concurrency"),
        (lambda d: d["jobs"][0].update(max_attempts=2**63), "max_attempts"),
        (lambda d: d["schedules"][0].update(max_fires=2**64), "max_fires"),
        (lambda d: d["schedules"][1].update(start_at="9999-12-31T00:00:00Z"), "start_at"),
        (lambda d: d["schedules"][0]["payload"].update(kind="a\x00b"), "schedules[0].payload.kind"),
        (lambda d: d["jobs"][0].update(name="r\ud800"), "jobs[0].name"),
    ],
)
async def test_apply_refuses_what_the_api_refuses(
    db: MemoryDatabase, change: Any, field: str
) -> None:
    """kairos apply shares the API's bounds: an out-of-range number, a far instant, a
    NUL or a lone surrogate is refused naming the field, and nothing is written."""
    doc = copy.deepcopy(DOC)
    change(doc)
    with pytest.raises(DomainError) as refused:
        await apply(db, tenant_id=ACME, document=doc)
    assert str(refused.value.details.get("field", "")).endswith(field), refused.value.details
    assert len(db.outbox) == 0

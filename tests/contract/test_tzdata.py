"""Zone rules changing under stored schedules (memory and PostgreSQL).

Schedules are planned under one zoneinfo tree; a second tree, a new "tzdata release",
moves Europe/Berlin to +02 a day before the next fire. The leader's pass re-plans that
fire, says why, lists it, and records the new version.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path

import asyncpg
import pytest

from adapters.memory.database import MemoryDatabase
from adapters.zoneinfo_source import DirectoryZoneSource
from domain.errors import NotLeader
from domain.events import EventType
from domain.ids import ScheduleId
from domain.schedule import Schedule
from domain.timing import Timing
from domain.triggers import CronTrigger, FixedDelayTrigger
from domain.zones import zone_source
from service.loops.leadership import acquire
from service.loops.materialiser import LEADER
from service.usecases.tzdata import replan_zone_rules
from tests.builders import ACME, GLOBEX, job
from tests.contract.support import Subject
from tests.tzif import berlin_tree, tzif, write_tree

TTL = timedelta(seconds=30)
tree = berlin_tree
UTC_FILE = tzif([], initial=0, footer="UTC0")


@pytest.fixture
def old_rules(tmp_path: Path) -> Iterator[DirectoryZoneSource]:
    source = tree(tmp_path, "2099a", None)
    with zone_source(source):
        yield source


async def lead(subject: Subject) -> int:
    async with subject.system.system() as tx:
        epoch = await acquire(tx.leader, LEADER, "replica-a", TTL)
    assert epoch is not None
    return epoch


async def add(subject: Subject, name: str, timing: Timing) -> Schedule:
    """A schedule stored with its first fire (two days or more ahead) as next fire."""
    async with subject.db.transaction(ACME) as tx:
        j = job(name=f"job-{name}")
        await tx.jobs.add(j)
        now = await tx.now()
        first = next(timing.fires(now))
        schedule, _ = Schedule.create(
            now=now,
            id=ScheduleId(uuid.uuid4()),
            tenant_id=ACME,
            name=name,
            job_id=j.id,
            timing=timing,
            next_fire_at=first.nominal_at,
        )
        await tx.schedules.add(schedule)
    return schedule


async def updated_events(subject: Subject) -> list[dict[str, object]]:
    if isinstance(subject.db, MemoryDatabase):
        found = [e for e in subject.db.outbox if e.type is EventType.SCHEDULE_UPDATED]
        return [dict(e.data) for e in found]
    rows = await _owner_fetch(
        subject,
        "SELECT cloudevent FROM outbox WHERE type = $1 ORDER BY seq",
        EventType.SCHEDULE_UPDATED,
    )
    return [_data(_payload(row["cloudevent"])) for row in rows]


def _payload(value: object) -> dict[str, object]:
    decoded = json.loads(value) if isinstance(value, str | bytes) else value
    assert isinstance(decoded, dict)
    return decoded


def _data(payload: dict[str, object]) -> dict[str, object]:
    data = payload["data"]
    assert isinstance(data, dict)
    return data


async def _owner_fetch(subject: Subject, query: str, *args: object) -> list[asyncpg.Record]:
    dsn = subject.owner_dsn
    assert dsn is not None
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def test_new_zone_rules_replan_the_next_fire_and_say_why(
    subject: Subject, old_rules: DirectoryZoneSource, tmp_path: Path
) -> None:
    """Berlin moving to +02 before a 12:00 fire moves it an hour earlier: saved, announced
    with reason, from and to versions, listed, and the new version recorded."""
    epoch = await lead(subject)
    first = await replan_zone_rules(subject.system, holder="replica-a", epoch=epoch)
    assert (first.tzdata_from, first.tzdata_to, first.replanned) == (None, "2099a", [])
    async with subject.db.transaction(ACME) as tx:
        start = (await tx.now() + timedelta(days=2)).replace(microsecond=0)
    noon = await add(
        subject,
        "noon",
        Timing(trigger=CronTrigger.parse("0 12 * * *"), timezone="Europe/Berlin", start_at=start),
    )
    elapsed = await add(
        subject,
        "elapsed",
        Timing(
            trigger=FixedDelayTrigger(every=timedelta(hours=1)),
            timezone="Europe/Berlin",
            start_at=start,
        ),
    )
    utc_noon = await add(
        subject, "utc", Timing(trigger=CronTrigger.parse("0 12 * * *"), start_at=start)
    )
    old_next = noon.next_fire_at
    assert old_next is not None
    assert old_next.astimezone(UTC).hour == 11  # 12:00 at +01
    unchanged = await replan_zone_rules(subject.system, holder="replica-a", epoch=epoch)
    assert unchanged.checked == 0  # same version: nothing is computed again

    new_rules = tree(tmp_path, "2099b", old_next - timedelta(days=1))
    with zone_source(new_rules):
        result = await replan_zone_rules(subject.system, holder="replica-a", epoch=epoch)
        assert (result.tzdata_from, result.tzdata_to) == ("2099a", "2099b")
        assert result.checked == 2  # the two cron schedules; elapsed time has no zone
        assert [r.schedule_id for r in result.replanned] == [noon.id]
        async with subject.db.transaction(ACME) as tx:
            stored = await tx.schedules.get(noon.id)
            listed = await tx.tzdata.replans(limit=10)
            seen_by_tenant = await tx.tzdata.recorded()  # the API's role may read it
            others = [await tx.schedules.get(s.id) for s in (elapsed, utc_noon)]
        async with subject.db.transaction(GLOBEX) as tx:
            foreign = await tx.tzdata.replans(limit=10)
        async with subject.system.system() as tx:
            recorded = await tx.tzdata.recorded()
        again = await replan_zone_rules(subject.system, holder="replica-a", epoch=epoch)

    assert stored.next_fire_at == old_next - timedelta(hours=1)
    assert stored.version == noon.version + 1
    assert [(s.next_fire_at, s.version) for s in others] == [
        (elapsed.next_fire_at, elapsed.version),
        (utc_noon.next_fire_at, utc_noon.version),
    ]
    (entry,) = listed
    assert (entry.schedule_id, entry.timezone, entry.tzdata_from, entry.tzdata_to) == (
        noon.id,
        "Europe/Berlin",
        "2099a",
        "2099b",
    )
    assert (entry.old_next_fire_at, entry.new_next_fire_at) == (old_next, stored.next_fire_at)
    assert recorded == seen_by_tenant == "2099b"
    assert foreign == []  # another tenant's re-plans are not visible (RLS)
    assert again.checked == 0
    (event,) = await updated_events(subject)
    assert event["schedule_id"] == str(noon.id)
    assert str(event["reason"]).startswith("ZONE_RULES_CHANGED: the rules of Europe/Berlin")
    assert (event["tzdata_from"], event["tzdata_to"]) == ("2099a", "2099b")
    assert event["old_next_fire_at"] == old_next.isoformat()
    assert event["new_next_fire_at"] == (old_next - timedelta(hours=1)).isoformat()


async def test_a_replica_that_lost_the_lease_replans_nothing(
    subject: Subject, old_rules: DirectoryZoneSource
) -> None:
    """The pass is fenced: a stale epoch writes nothing and records no version."""
    epoch = await lead(subject)
    with pytest.raises(NotLeader):
        await replan_zone_rules(subject.system, holder="replica-b", epoch=epoch)
    async with subject.system.system() as tx:
        assert await tx.tzdata.recorded() is None


async def test_a_zone_the_new_release_lacks_stops_nothing(
    subject: Subject, old_rules: DirectoryZoneSource, tmp_path: Path
) -> None:
    """A schedule whose zone is gone from the new tree is left alone; the pass records
    the new version all the same."""
    epoch = await lead(subject)
    async with subject.db.transaction(ACME) as tx:
        start = (await tx.now() + timedelta(days=2)).replace(microsecond=0)
    berlin = await add(
        subject,
        "noon",
        Timing(trigger=CronTrigger.parse("0 12 * * *"), timezone="Europe/Berlin", start_at=start),
    )
    await replan_zone_rules(subject.system, holder="replica-a", epoch=epoch)
    only_utc = DirectoryZoneSource(write_tree(tmp_path / "2099c", "2099c", {"UTC": UTC_FILE}))
    with zone_source(only_utc):
        result = await replan_zone_rules(subject.system, holder="replica-a", epoch=epoch)
        async with subject.system.system() as tx:
            recorded = await tx.tzdata.recorded()
    assert (result.replanned, recorded) == ([], "2099c")
    with zone_source(old_rules):
        async with subject.db.transaction(ACME) as tx:
            stored = await tx.schedules.get(berlin.id)
    assert (stored.next_fire_at, stored.version) == (berlin.next_fire_at, berlin.version)

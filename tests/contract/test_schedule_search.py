"""The dashboard's schedule search (memory and PostgreSQL): text, state, each order
both ways, paging with the total, tenant isolation, deleted schedules left out."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from domain.ports import ScheduleOrder, ScheduleSearch
from domain.schedule import ScheduleState
from service.usecases.schedules import search_schedules
from tests.builders import ACME, GLOBEX, T0, job, schedule
from tests.contract.support import Subject


async def _store(subject: Subject) -> list[str]:
    """Five schedules of acme (one paused, one deleted, one with no next fire) and one
    of globex whose name would match."""
    owner = job()
    other = job(GLOBEX)
    names = ["Beta-report", "alpha-sync", "gamma-report", "delta", "omega-report"]
    made = []
    for i, name in enumerate(names):
        s = schedule(owner.id, name=name)
        s = replace(s, next_fire_at=T0 + timedelta(hours=5 - i), created_at=T0 + i * timedelta(1))
        made.append(s)
    made[1] = replace(made[1], state=ScheduleState.PAUSED, state_reason="vendor down")
    made[3] = replace(made[3], next_fire_at=None)
    made[4] = replace(made[4], state=ScheduleState.DELETED)
    async with subject.db.transaction(ACME) as tx:
        await tx.jobs.add(owner)
        for s in made:
            await tx.schedules.add(s)
    async with subject.db.transaction(GLOBEX) as tx:
        await tx.jobs.add(other)
        await tx.schedules.add(schedule(other.id, GLOBEX, name="globex-report"))
    return [s.name for s in made]


async def _names(subject: Subject, **query: object) -> tuple[list[str], int]:
    found, total = await search_schedules(
        subject.db,
        tenant_id=ACME,
        query=ScheduleSearch(**query),  # type: ignore[arg-type]
    )
    return [s.name for s in found], total


async def test_search_filters_sorts_and_pages_one_tenants_live_schedules(
    subject: Subject,
) -> None:
    """Every order both ways, case-insensitive text, state, offset/limit and the
    total agree between the adapters; globex's and deleted schedules never show."""
    await _store(subject)
    assert await _names(subject) == (["alpha-sync", "Beta-report", "delta", "gamma-report"], 4)
    assert await _names(subject, descending=True) == (
        ["gamma-report", "delta", "Beta-report", "alpha-sync"],
        4,
    )
    assert await _names(subject, text="REPORT") == (["Beta-report", "gamma-report"], 2)
    assert await _names(subject, state=ScheduleState.PAUSED) == (["alpha-sync"], 1)
    assert await _names(subject, order=ScheduleOrder.NEXT) == (
        ["gamma-report", "alpha-sync", "Beta-report", "delta"],
        4,
    )
    assert (await _names(subject, order=ScheduleOrder.NEXT, descending=True))[0][-1] == "delta"
    assert await _names(subject, order=ScheduleOrder.CREATED, limit=2, offset=1) == (
        ["alpha-sync", "gamma-report"],
        4,
    )
    assert await _names(subject, order=ScheduleOrder.STATE) == (
        ["Beta-report", "delta", "gamma-report", "alpha-sync"],
        4,
    )
    assert await _names(subject, offset=10) == ([], 4)


async def test_search_finds_a_schedule_by_its_id(subject: Subject) -> None:
    """The text may be a schedule's id: that schedule alone."""
    await _store(subject)
    everything, _ = await search_schedules(subject.db, tenant_id=ACME, query=ScheduleSearch())
    wanted = everything[2]
    found, total = await search_schedules(
        subject.db, tenant_id=ACME, query=ScheduleSearch(text=str(wanted.id).upper())
    )
    assert [s.id for s in found] == [wanted.id]
    assert total == 1

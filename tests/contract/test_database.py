"""One contract for every Database adapter: the memory fake and PostgreSQL (as the app
role) must behave the same, so unit tests on the fake cannot drift from production."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

import pytest

from domain.errors import Conflict, NotFound
from domain.events import DomainEvent, EventType
from domain.ids import JobId
from tests.builders import ACME, GLOBEX, T0, job, schedule
from tests.contract.support import Subject


async def test_job_round_trips_exactly(subject: Subject) -> None:
    """What is added is what is read back, field for field."""
    original = job()
    async with subject.db.transaction(ACME) as tx:
        await tx.jobs.add(original)
    async with subject.db.transaction(ACME) as tx:
        assert await tx.jobs.get(original.id) == original


async def test_duplicate_job_name_is_a_conflict(subject: Subject) -> None:
    """Names are unique per tenant; another tenant may reuse one."""
    async with subject.db.transaction(ACME) as tx:
        await tx.jobs.add(job())
    with pytest.raises(Conflict):
        async with subject.db.transaction(ACME) as tx:
            await tx.jobs.add(job())
    async with subject.db.transaction(GLOBEX) as tx:
        await tx.jobs.add(job(GLOBEX))


async def test_other_tenants_objects_are_not_found(subject: Subject) -> None:
    """Tenant isolation: another tenant's id answers NotFound."""
    original = job()
    async with subject.db.transaction(ACME) as tx:
        await tx.jobs.add(original)
    with pytest.raises(NotFound):
        async with subject.db.transaction(GLOBEX) as tx:
            await tx.jobs.get(original.id)
    with pytest.raises(ValueError, match="tenant"):
        async with subject.db.transaction(GLOBEX) as tx:
            await tx.jobs.add(job(ACME, "smuggled"))


async def test_save_is_optimistic(subject: Subject) -> None:
    """save with a stale expected version is a Conflict; a missing job is NotFound."""
    original = job()
    async with subject.db.transaction(ACME) as tx:
        await tx.jobs.add(original)
    revised = original.revise(now=T0 + timedelta(seconds=1), max_attempts=9)
    async with subject.db.transaction(ACME) as tx:
        await tx.jobs.save(revised, expected_version=1)
    with pytest.raises(Conflict):
        async with subject.db.transaction(ACME) as tx:
            await tx.jobs.save(revised.revise(now=T0, max_attempts=1), expected_version=1)
    with pytest.raises(NotFound):
        async with subject.db.transaction(ACME) as tx:
            await tx.jobs.save(job(name="ghost"), expected_version=1)
    async with subject.db.transaction(ACME) as tx:
        assert (await tx.jobs.get(original.id)).max_attempts == 9


async def test_schedule_round_trips_with_its_timing(subject: Subject) -> None:
    """Every timing option and policy survives storage; by_name finds the live one."""
    j = job()
    s = schedule(j.id)
    async with subject.db.transaction(ACME) as tx:
        await tx.jobs.add(j)
        await tx.schedules.add(s)
    async with subject.db.transaction(ACME) as tx:
        stored = await tx.schedules.get(s.id)
        assert stored == s
        assert stored.timing.to_spec() == s.timing.to_spec()
        assert await tx.schedules.by_name("nightly") == s


async def test_schedule_needs_an_existing_job(subject: Subject) -> None:
    """A schedule pointing at no job of the tenant is refused with NotFound(job)."""
    with pytest.raises(NotFound) as err:
        async with subject.db.transaction(ACME) as tx:
            await tx.schedules.add(schedule(JobId(uuid.uuid4())))
    assert err.value.kind == "job"


async def test_deleted_schedule_frees_its_name(subject: Subject) -> None:
    """Two live schedules cannot share a name; deleting one frees it."""
    j = job()
    first = schedule(j.id)
    async with subject.db.transaction(ACME) as tx:
        await tx.jobs.add(j)
        await tx.schedules.add(first)
    with pytest.raises(Conflict):
        async with subject.db.transaction(ACME) as tx:
            await tx.schedules.add(schedule(j.id))
    gone, _ = first.delete(now=T0)
    async with subject.db.transaction(ACME) as tx:
        await tx.schedules.save(gone, expected_version=first.version)
        await tx.schedules.add(schedule(j.id))
    async with subject.db.transaction(ACME) as tx:
        assert (await tx.schedules.by_name("nightly")).id != first.id


async def test_failed_unit_of_work_leaves_no_state_and_no_events(subject: Subject) -> None:
    """State and outbox commit together or not at all."""
    j = job()
    s = schedule(j.id)
    _, events = s.pause(now=T0)

    class Boom(Exception):
        pass

    async def add_then_fail() -> None:
        async with subject.db.transaction(ACME) as tx:
            await tx.jobs.add(j)
            await tx.outbox.append(events, traceparent=None)
            raise Boom

    with pytest.raises(Boom):
        await add_then_fail()
    with pytest.raises(NotFound):
        async with subject.db.transaction(ACME) as tx:
            await tx.jobs.get(j.id)
    assert await subject.committed_events() == []


async def test_outbox_keeps_each_event_once_in_order(subject: Subject) -> None:
    """Appending the same event twice stores it once; commit order is kept."""
    j = job()
    s = schedule(j.id)
    paused, first = s.pause(now=T0)
    _, second = paused.resume(now=T0)
    async with subject.db.transaction(ACME) as tx:
        await tx.outbox.append(first, traceparent=None)
        await tx.outbox.append(first, traceparent=None)
    async with subject.db.transaction(ACME) as tx:
        await tx.outbox.append([*first, *second], traceparent=None)
    assert await subject.committed_events() == [first[0].id, second[0].id]
    foreign = DomainEvent.of(
        first[0].type,
        tenant_id=GLOBEX,
        aggregate_id=s.id,
        revision=99,
        occurred_at=T0,
    )
    with pytest.raises(ValueError, match="tenant"):
        async with subject.db.transaction(ACME) as tx:
            await tx.outbox.append([foreign], traceparent=None)


async def test_an_events_trace_context_survives_the_outbox(subject: Subject) -> None:
    """The traceparent an event was made with is what the relay reads back."""
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    traced = DomainEvent.of(
        EventType.RUN_STARTED,
        tenant_id=ACME,
        aggregate_id=uuid.uuid4(),
        revision=1,
        occurred_at=T0,
        traceparent=parent,
    )
    async with subject.system.system() as tx:
        await tx.outbox.append([traced], traceparent=None)
        pending = await tx.outbox.pending(10)
    (record,) = [r for r in pending if r.event.id == traced.id]
    assert record.event.traceparent == parent


async def test_schedule_save_detects_concurrent_change(subject: Subject) -> None:
    """Two writers from the same version: the second gets a Conflict."""
    j = job()
    s = schedule(j.id)
    async with subject.db.transaction(ACME) as tx:
        await tx.jobs.add(j)
        await tx.schedules.add(s)
    one, _ = s.update(now=T0, name="one")
    two, _ = s.update(now=T0, payload={"x": 1})
    async with subject.db.transaction(ACME) as tx:
        await tx.schedules.save(one, expected_version=s.version)
    with pytest.raises(Conflict):
        async with subject.db.transaction(ACME) as tx:
            await tx.schedules.save(replace(two), expected_version=s.version)


async def test_jobs_and_live_schedules_list_in_creation_order(subject: Subject) -> None:
    """Keyset pages of jobs and of live schedules; a deleted schedule is not listed."""
    first, second = job(name="a"), replace(job(name="b"), created_at=T0 + timedelta(seconds=1))
    s1, s2 = schedule(first.id, name="one"), schedule(first.id, name="two")
    s2 = replace(s2, created_at=T0 + timedelta(seconds=1))
    async with subject.db.transaction(ACME) as tx:
        await tx.jobs.add(first)
        await tx.jobs.add(second)
        await tx.schedules.add(s1)
        await tx.schedules.add(s2)
        gone, _ = s1.delete(now=T0)
        await tx.schedules.save(gone, expected_version=s1.version)
    async with subject.db.transaction(ACME) as tx:
        page = await tx.jobs.list(after=None, limit=1)
        rest = await tx.jobs.list(after=(page[0].created_at, page[0].id), limit=5)
        live = await tx.schedules.list(after=None, limit=5)
        by_name = await tx.jobs.by_name("b")
    assert [j.name for j in [*page, *rest]] == ["a", "b"]
    assert [s.name for s in live] == ["two"]
    assert by_name == second
    async with subject.db.transaction(GLOBEX) as tx:
        assert await tx.jobs.list(after=None, limit=5) == []

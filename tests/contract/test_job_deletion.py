"""Deleting a job, and which schedules use it, alike over memory and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.errors import NotFound
from tests.builders import ACME, GLOBEX, T0, job, schedule
from tests.contract.support import Subject


async def test_schedules_using_a_job_are_its_live_ones_by_name(subject: Subject) -> None:
    """using_job names the job's live schedules, sorted; deleted ones and other jobs' not."""
    used, other = job(), job(name="other")
    async with subject.db.transaction(ACME) as tx:
        await tx.jobs.add(used)
        await tx.jobs.add(other)
        for name in ("zeta", "alpha", "gone"):
            await tx.schedules.add(schedule(used.id, name=name))
        await tx.schedules.add(schedule(other.id, name="elsewhere"))
    async with subject.db.transaction(ACME) as tx:
        gone = await tx.schedules.by_name("gone")
        deleted, _ = gone.delete(now=T0 + timedelta(seconds=1))
        await tx.schedules.save(deleted, expected_version=gone.version)
    async with subject.db.transaction(ACME) as tx:
        assert list(await tx.schedules.using_job(used.id)) == ["alpha", "zeta"]
    async with subject.db.transaction(GLOBEX) as tx:
        assert list(await tx.schedules.using_job(used.id)) == []


async def test_a_deleted_job_is_gone_and_its_name_is_free(subject: Subject) -> None:
    """After delete: get, by_name and list do not find it, its name can be reused, and a
    deleted schedule that named it stays stored; deleting again is NotFound."""
    original = job()
    async with subject.db.transaction(ACME) as tx:
        await tx.jobs.add(original)
        kept = schedule(original.id, name="old")
        await tx.schedules.add(kept)
    async with subject.db.transaction(ACME) as tx:
        deleted, _ = kept.delete(now=T0 + timedelta(seconds=1))
        await tx.schedules.save(deleted, expected_version=kept.version)
    async with subject.db.transaction(ACME) as tx:
        await tx.jobs.delete(original.id, now=T0 + timedelta(seconds=2))
    async with subject.db.transaction(ACME) as tx:
        with pytest.raises(NotFound):
            await tx.jobs.get(original.id)
        with pytest.raises(NotFound):
            await tx.jobs.by_name(original.name)
        assert list(await tx.jobs.list(after=None, limit=10)) == []
        assert (await tx.schedules.get(kept.id)).job_id == original.id
        await tx.jobs.add(job())  # the name is free again
    with pytest.raises(NotFound):
        async with subject.db.transaction(ACME) as tx:
            await tx.jobs.delete(original.id, now=T0 + timedelta(seconds=3))
    async with subject.db.transaction(GLOBEX) as tx:
        with pytest.raises(NotFound):
            await tx.jobs.delete(original.id, now=T0 + timedelta(seconds=3))

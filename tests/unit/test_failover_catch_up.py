"""A leaderless gap shorter than the misfire threshold is ordinary lateness: an
every-second schedule under overlap ``skip`` does not lose the gap's fires to the
catch-up pass (memory adapters, fake clock)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from adapters.memory.clock import FakeClock
from adapters.memory.database import MemoryDatabase
from domain.ids import WorkerId, run_id_for
from domain.run import RunStatus
from domain.schedule import OverlapPolicy, Schedule
from domain.timing import Timing
from domain.triggers import FixedDelayTrigger
from service.loops.materialiser import materialise_due
from service.usecases import runs as use
from service.usecases.commands import CreateSchedule
from service.usecases.schedules import create_schedule
from tests.builders import ACME, job, leading

T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
W = WorkerId(uuid.UUID(int=3))


async def every_second(db: MemoryDatabase) -> Schedule:
    j = job()
    async with db.transaction(ACME) as tx:
        await tx.jobs.add(j)
    return await create_schedule(
        db,
        CreateSchedule(
            tenant_id=ACME,
            name="tick",
            job_id=j.id,
            timing=Timing(trigger=FixedDelayTrigger(every=SECOND), start_at=T0),
            overlap_policy=OverlapPolicy.SKIP,
        ),
    )


async def test_a_three_second_gap_under_skip_leaves_its_fires_runs() -> None:
    """The fire at t0 ran; no pass for ~3 s (a failover); the next pass, at t0+3.85,
    makes the fires of t0+1..t0+3 and the one it materialises ahead (t0+4, within the
    horizon) runs queued one behind the other, none skipped."""
    clock = FakeClock(T0)
    db = MemoryDatabase(clock)
    schedule = await every_second(db)
    fence = await leading(db)
    await materialise_due(db, fence=fence, horizon=SECOND / 5)
    (first,) = await use.claim(
        db, worker_id=W, capabilities=frozenset({"EVENT"}), limit=5, tenant_id=ACME
    )
    await use.record(db, [use.Report(first)], jobs={}, tenant_id=ACME)
    clock.advance(3 * SECOND + SECOND * 85 / 100)  # the leaderless gap
    await materialise_due(db, fence=fence, horizon=SECOND / 5)
    async with db.transaction(ACME) as tx:
        late = [
            await tx.runs.get(run_id_for(ACME, schedule.id, T0 + k * SECOND)) for k in (1, 2, 3, 4)
        ]
    assert [r.status for r in late] == [RunStatus.PENDING] * 3 + [RunStatus.SCHEDULED]
    assert [r.buffered for r in late] == [False, True, True, True]
    # Queued, not concurrent: one at a time, in order.
    claimed = await use.claim(
        db, worker_id=W, capabilities=frozenset({"EVENT"}), limit=5, tenant_id=ACME
    )
    assert [r.id for r in claimed] == [late[0].id]

"""Partitions on a real PostgreSQL: SQL's partition function agrees with Python's, the
migration gives existing rows theirs, a hand-over waits for a pass that fenced before it
and fences off one that had not, and Scheduler replicas in one process share the
partitions and make every fire once while they come and go."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import defaultdict
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from adapters.clock import SystemClock
from adapters.memory.publisher import RecordingPublisher
from adapters.postgres.database import PostgresDatabase, create_pool
from adapters.postgres.migrate import migrate
from domain.errors import NotLeader
from domain.events import DomainEvent, EventType
from domain.ids import EventId, JobId, new_id
from domain.job import Job, Target, TargetKind
from domain.partitions import DEFAULT_PARTITIONS, event_key, partition_of
from domain.timing import Timing
from domain.triggers import CronTrigger
from service.loops.leadership import PartitionCampaign, fenced
from service.loops.scheduler import Scheduler, SchedulerSettings
from service.usecases.commands import CreateSchedule
from service.usecases.schedules import create_schedule
from tests.builders import ACME
from tests.older_rows import migrated_before, store_run
from tests.servers import app_dsn

MINUTES = timedelta(minutes=5)


async def test_sql_and_python_agree_on_every_ids_partition(database: str) -> None:
    ids = [uuid.uuid4() for _ in range(3000)] + [
        uuid.UUID(int=0),
        uuid.UUID(int=(1 << 128) - 1),
        uuid.UUID("01900000-0000-7000-8000-00007fffffff"),
        uuid.UUID("01900000-0000-7000-8000-000080000000"),
    ]
    conn = await asyncpg.connect(database)
    try:
        assert await conn.fetchval("SELECT partitions FROM kairos_settings") == DEFAULT_PARTITIONS
        for count in (1, 7, DEFAULT_PARTITIONS, 4096):
            rows = await conn.fetch(
                "SELECT id, kairos_partition(id, $2) AS p FROM unnest($1::uuid[]) AS id",
                ids,
                count,
            )
            assert {r["id"]: r["p"] for r in rows} == {i: partition_of(i, count) for i in ids}
        defaulted = await conn.fetch(
            "SELECT id, kairos_partition(id) AS p FROM unnest($1::uuid[]) AS id", ids
        )
        assert all(r["p"] == partition_of(r["id"], DEFAULT_PARTITIONS) for r in defaulted)
    finally:
        await conn.close()


async def test_rows_written_before_the_migration_get_their_partitions(
    empty_database: str, tmp_path: Path
) -> None:
    """A schedule, its run, the run's event and a job's event stored before 0024: the
    schedule and run get the schedule's partition, the run's event too (its payload
    names the schedule), the job's event its job's."""
    await migrated_before(empty_database, 24, tmp_path / "migrations")
    conn = await asyncpg.connect(empty_database)
    try:
        async with conn.transaction():
            job_id, schedule_id, run_id = await store_run(conn)
            for type, aggregate, data in (
                ("scheduler.run.succeeded", run_id, {"schedule_id": str(schedule_id)}),
                ("scheduler.job.deleted", job_id, {}),
            ):
                await conn.execute(
                    "INSERT INTO outbox (tenant_id, event_id, aggregate_id, type, subject, "
                    "payload) VALUES ('acme', $1, $2, $3, $3, $4::jsonb)",
                    uuid.uuid4(),
                    aggregate,
                    type,
                    json.dumps({"occurred_at": "2026-01-01T00:00:00+00:00", "data": data}),
                )
        assert 24 in await migrate(empty_database)
        home = partition_of(schedule_id, DEFAULT_PARTITIONS)
        assert await conn.fetchval("SELECT partition FROM schedules") == home
        assert await conn.fetchval("SELECT partition FROM runs") == home
        events = {r["type"]: r["partition"] for r in await conn.fetch("TABLE outbox")}
        assert events == {
            "scheduler.run.succeeded": home,
            "scheduler.job.deleted": partition_of(job_id, DEFAULT_PARTITIONS),
        }
    finally:
        await conn.close()


def a_job(now: datetime) -> Job:
    return Job(
        id=JobId(new_id()),
        tenant_id=ACME,
        name="tick",
        target=Target(kind=TargetKind.EVENT, config={"subject": "tick"}),
        created_at=now,
        updated_at=now,
    )


async def test_new_rows_carry_the_partition_python_computes(database: str) -> None:
    """Written through the adapters: a schedule, then the outbox rows of a run event
    (its schedule's partition) and of a job event (its own)."""
    pool = await create_pool(app_dsn(database))
    try:
        app = PostgresDatabase(pool)
        now = SystemClock().now()
        job = a_job(now)
        async with app.transaction(ACME) as tx:
            await tx.jobs.add(job)
        schedule = await create_schedule(
            app,
            CreateSchedule(
                tenant_id=ACME,
                name="every-minute",
                job_id=job.id,
                timing=Timing(trigger=CronTrigger.parse("* * * * *")),
            ),
        )
        run_event = DomainEvent.of(
            EventType.RUN_STARTED,
            tenant_id=ACME,
            aggregate_id=uuid.uuid4(),
            revision=1,
            occurred_at=now,
            data={"schedule_id": str(schedule.id)},
        )
        job_event = DomainEvent(
            id=EventId(uuid.uuid4()),
            type=EventType.JOB_DELETED,
            tenant_id=ACME,
            aggregate_id=job.id,
            occurred_at=now,
        )
        async with app.transaction(ACME) as tx:
            await tx.outbox.append([run_event, job_event], traceparent=None)
    finally:
        await pool.close()
    conn = await asyncpg.connect(database)
    try:
        stored = await conn.fetchval("SELECT partition FROM schedules WHERE id = $1", schedule.id)
        assert stored == partition_of(schedule.id, DEFAULT_PARTITIONS)
        rows = await conn.fetch("SELECT event_id, partition FROM outbox")
        for event in (run_event, job_event):
            (row,) = [r for r in rows if r["event_id"] == event.id]
            assert row["partition"] == partition_of(event_key(event), DEFAULT_PARTITIONS)
        assert len({r["partition"] for r in rows if r["event_id"] == run_event.id}) == 1
    finally:
        await conn.close()


async def test_a_hand_over_waits_for_a_fenced_pass_and_fences_off_an_unfenced_one(
    database: str,
) -> None:
    """A holds every partition. Pass 1 of A has fenced (not committed), pass 2 has
    written but not fenced. B joins; A's step hands its share over at once (a release
    waits for nothing); B's takeover of those partitions waits for pass 1's commit, so
    pass 1's write lands before epoch 2 begins; pass 2 then raises NotLeader and its
    write is gone."""
    pool = await create_pool(app_dsn(database, "kairos_scheduler"), max_size=6)
    try:
        db = PostgresDatabase(pool)
        async with AsyncExitStack() as stack:
            a = PartitionCampaign(await stack.enter_async_context(db.presence()), "a", MINUTES)
            await a.step()
            old = a.fence
            assert old is not None
            fenced_1, commit_1, written_2, fence_2 = (asyncio.Event() for _ in range(4))
            first, second = uuid.uuid4(), uuid.uuid4()

            async def pass_1() -> None:
                async with db.system() as tx:
                    await tx.leader.check_all(old.holder, old.leases)
                    await tx.outbox.append([marker(first)], traceparent=None)
                    await tx.leader.fence_all(old.holder, old.leases)
                    fenced_1.set()
                    await commit_1.wait()

            async def pass_2() -> None:
                async with fenced(db, old) as tx:
                    await tx.outbox.append([marker(second)], traceparent=None)
                    written_2.set()
                    await fence_2.wait()

            one = asyncio.create_task(pass_1())
            two = asyncio.create_task(pass_2())
            await fenced_1.wait()
            await written_2.wait()
            b = PartitionCampaign(await stack.enter_async_context(db.presence()), "b", MINUTES)
            assert await b.step() == {}
            await asyncio.wait_for(a.step(), 2)  # the hand-over does not wait for pass 1
            assert 0 < len(a.epochs) < DEFAULT_PARTITIONS
            taking = asyncio.create_task(b.step())
            await asyncio.sleep(0.3)
            assert not taking.done()  # epoch 2 waits for pass 1's commit
            commit_1.set()
            await one
            taken = await asyncio.wait_for(taking, 5)
            assert taken
            assert set(taken.values()) == {2}
            assert set(taken).isdisjoint(a.epochs)
            fence_2.set()
            with pytest.raises(NotLeader):
                await two
    finally:
        await pool.close()
    conn = await asyncpg.connect(database)
    try:
        ids = {r["aggregate_id"] for r in await conn.fetch("SELECT aggregate_id FROM outbox")}
    finally:
        await conn.close()
    assert first in ids
    assert second not in ids


def marker(aggregate: uuid.UUID) -> DomainEvent:
    return DomainEvent(
        id=EventId(uuid.uuid4()),
        type=EventType.SCHEDULE_UPDATED,
        tenant_id=ACME,
        aggregate_id=aggregate,
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


async def test_replicas_share_the_partitions_and_make_every_fire_once(database: str) -> None:
    """24 per-second schedules under three Scheduler replicas in one process: they share
    the partitions (each holds some, together all), then one stops cleanly, another is
    killed (its task cancelled: no release) and a fourth joins. Every schedule's runs
    are one per second from its first to its last fire: none twice, none lost across
    the hand-overs."""
    dsn = app_dsn(database, "kairos_scheduler")
    app_pool = await create_pool(app_dsn(database))
    pools: list[asyncpg.Pool] = []
    stops: list[asyncio.Event] = []
    tasks: list[asyncio.Task[None]] = []
    replicas: list[Scheduler] = []

    def start(i: int) -> None:
        pool = pools[i]
        replica = Scheduler(
            PostgresDatabase(pool),
            RecordingPublisher(),
            {},
            SystemClock(),
            SchedulerSettings(
                replica=f"r{i}",
                lease_ttl=timedelta(seconds=3),
                leader_poll=timedelta(milliseconds=200),
                unlistened_poll=timedelta(milliseconds=200),
                worker_capacity=0,
            ),
        )
        stop = asyncio.Event()
        replicas.append(replica)
        stops.append(stop)
        tasks.append(asyncio.create_task(replica.run(stop)))

    async def shared(among: list[int]) -> list[int]:
        """Wait until the live replicas ``among`` hold every partition between them,
        evenly (within the failover target: a few polls)."""
        async with asyncio.timeout(10):
            while True:
                held = [set(replicas[i].partitions) for i in among]
                every = set().union(*held)
                sizes = [len(h) for h in held]
                whole = len(every) == DEFAULT_PARTITIONS == sum(sizes)
                if whole and max(sizes) - min(sizes) <= 1:
                    return sizes
                await asyncio.sleep(0.05)

    try:
        for _ in range(4):
            pools.append(await create_pool(dsn, max_size=4))
        app = PostgresDatabase(app_pool)
        job = a_job(SystemClock().now())
        async with app.transaction(ACME) as tx:
            await tx.jobs.add(job)
        schedules = [
            await create_schedule(
                app,
                CreateSchedule(
                    tenant_id=ACME,
                    name=f"tick-{n}",
                    job_id=job.id,
                    timing=Timing(trigger=CronTrigger.parse("* * * * * *")),
                ),
            )
            for n in range(24)
        ]
        for i in range(3):
            start(i)
        shares = await shared([0, 1, 2])
        assert sorted(shares) == [21, 21, 22]
        await asyncio.sleep(1.5)  # integration: real servers, real time
        stops[0].set()  # a clean stop
        await asyncio.wait_for(tasks[0], 10)
        await shared([1, 2])
        await asyncio.sleep(1.0)
        tasks[1].cancel()  # killed: its leases stay live, its session ends
        with pytest.raises(asyncio.CancelledError):
            await tasks[1]
        await shared([2])
        start(3)
        await shared([2, 3])
        await asyncio.sleep(1.5)
        async with app.transaction(ACME) as tx:
            for schedule in schedules:
                current = await tx.schedules.get(schedule.id)
                paused, _ = current.pause(now=await tx.now())
                await tx.schedules.save(paused, expected_version=current.version)
        await asyncio.sleep(0.5)
    finally:
        for stop in stops:
            stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for pool in pools:
            await pool.close()
        await app_pool.close()
    owner = await asyncpg.connect(database)
    try:
        rows = await owner.fetch("SELECT schedule_id, nominal_at, partition FROM runs")
    finally:
        await owner.close()
    fires: dict[uuid.UUID, list[datetime]] = defaultdict(list)
    for row in rows:
        fires[row["schedule_id"]].append(row["nominal_at"])
        assert row["partition"] == partition_of(row["schedule_id"], DEFAULT_PARTITIONS)
    assert set(fires) == {s.id for s in schedules}
    for nominals in fires.values():
        nominals.sort()
        seconds = [(n - nominals[0]).total_seconds() for n in nominals]
        assert seconds == [float(k) for k in range(len(nominals))]  # none twice, none lost
        assert len(nominals) >= 5

"""Burst and steady-load benchmark of the durable engine on real servers.

    python bench/burst.py [--n 50000] [--steady-rate 500] [--steady-seconds 60]

Starts its own PostgreSQL and nats-server (as `kairos dev` does), then measures:

1. **Burst.** N one-shot schedules with EVENT targets, all due at the same instant, run
   by one scheduler replica (materialiser, built-in worker pool, relay). Time from the
   due instant until every run is `succeeded` *and* every outbox event is in the
   JetStream stream.
2. **Baseline** on the same servers and the same N run rows: a bare loop that claims a
   batch with `FOR UPDATE SKIP LOCKED`, marks it done and publishes one JetStream
   message per row (no leases, attempts, events or outbox).
3. **Contract floor** (``bench/floor.py``): the same burst with no Kairos code; every
   write, event and message docs/semantics.md requires per fire, as set-based SQL in parallel
   loops. What any implementation of the contract could at best reach here.
4. **Steady.** `--steady-rate` fires/s (that many every-second cron schedules) for
   `--steady-seconds`; latency = arrival of `scheduler.run.succeeded` at a subscriber
   minus the fire's nominal time. p50 / p99.

Prints one table. Medians and ratios only mean something measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
import nats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.clock import SystemClock
from adapters.embedded.nats import EmbeddedNats
from adapters.embedded.postgres import EmbeddedPostgres
from adapters.nats.event_target import EventTarget
from adapters.nats.publisher import STREAM, JetStreamPublisher
from adapters.postgres.database import PostgresDatabase, create_pool
from adapters.postgres.migrate import migrate
from adapters.postgres.notifications import PostgresChangeFeed
from bench.floor import run_floor
from domain.ids import JobId, ScheduleId, TenantId, new_id
from domain.job import Job, Target, TargetKind
from domain.schedule import Schedule
from domain.timing import Timing
from domain.triggers import CronTrigger, OneShotTrigger
from service.loops.scheduler import Scheduler, SchedulerSettings

TENANT = TenantId("bench")


async def reset(owner_dsn: str) -> None:
    conn = await asyncpg.connect(owner_dsn)
    try:
        await conn.execute(
            "TRUNCATE runs, run_attempts, schedules, jobs, outbox, workers, leader_lease,"
            " scheduler_replicas CASCADE"
        )
    finally:
        await conn.close()


async def seed(db: PostgresDatabase, schedules: list[Schedule], job: Job) -> None:
    async with db.transaction(TENANT) as tx:
        await tx.jobs.add(job)
    for i in range(0, len(schedules), 2000):
        async with db.transaction(TENANT) as tx:
            for schedule in schedules[i : i + 2000]:
                await tx.schedules.add(schedule)


def make_job(now: object) -> Job:
    return Job(
        id=JobId(new_id()),
        tenant_id=TENANT,
        name="bench",
        target=Target(kind=TargetKind.EVENT, config={"subject": "bench.fire"}),
        created_at=now,  # type: ignore[arg-type]
        updated_at=now,  # type: ignore[arg-type]
    )


CAPACITY = int(os.environ.get("KAIROS_BENCH_CAPACITY", "1000"))  # runs in flight per pool


async def run_scheduler(
    system: PostgresDatabase,
    nc: nats.aio.client.Client,
    dsn: str,
    stop: asyncio.Event,
    *,
    pool: bool = True,
) -> asyncio.Task[None]:
    app = Scheduler(
        system,
        JetStreamPublisher(nc),
        {TargetKind.EVENT: EventTarget(nc)},
        SystemClock(),
        SchedulerSettings(worker_capacity=CAPACITY if pool else 0),
        changes=PostgresChangeFeed(dsn),
    )
    ready = asyncio.Event()
    task = asyncio.create_task(app.run(stop, ready))
    await ready.wait()
    return task


async def start_workers(count: int, dsn: str, nats_url: str) -> list[asyncio.subprocess.Process]:
    """``kairos worker`` processes (the production shape: workers scale out)."""
    kairos = str(Path(sys.executable).with_name("kairos"))
    procs = []
    for i in range(count):
        proc = await asyncio.create_subprocess_exec(
            kairos,
            "worker",
            "--database-url",
            dsn,
            "--nats-url",
            nats_url,
            "--concurrency",
            str(CAPACITY),
            "--name",
            f"bench-{i}",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert b"concurrency" in line, line
        procs.append(proc)
    return procs


async def stop_workers(procs: list[asyncio.subprocess.Process]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        await proc.wait()


async def prepare(pg: EmbeddedPostgres, nc: nats.aio.client.Client, n: int) -> datetime:
    """Fresh tables, N one-shot EVENT schedules due at one instant, an empty stream;
    returns the due instant."""
    owner = pg.dsn_for("postgres")
    await reset(owner)
    pool = await create_pool(pg.dsn_for("postgres", "kairos_scheduler"), max_size=8)
    db = PostgresDatabase(pool)
    try:
        async with db.system() as tx:
            now = await tx.now()
        job = make_job(now)
        due = (now + timedelta(seconds=3 + n / 8000)).replace(microsecond=0)
        schedules = []
        for i in range(n):
            schedule, _ = Schedule.create(
                now=now,
                id=ScheduleId(new_id()),
                tenant_id=TENANT,
                name=f"burst-{i}",
                job_id=job.id,
                timing=Timing(trigger=OneShotTrigger.parse(due.isoformat())),
                next_fire_at=due,
            )
            schedules.append(schedule)
        await seed(db, schedules, job)
    finally:
        await pool.close()
    await nc.jetstream().purge_stream(STREAM)
    return due


async def burst(
    pg: EmbeddedPostgres, nc: nats.aio.client.Client, n: int, nats_url: str, processes: int
) -> float:
    """0 processes: the scheduler's built-in pool runs the fires; else that many
    ``kairos worker`` processes do."""
    owner = pg.dsn_for("postgres")
    dsn = pg.dsn_for("postgres", "kairos_scheduler")
    due = await prepare(pg, nc, n)
    pool = await create_pool(dsn, max_size=8)
    db = PostgresDatabase(pool)
    try:
        stop = asyncio.Event()
        workers = await start_workers(processes, dsn, nats_url)
        task = await run_scheduler(db, nc, dsn, stop, pool=processes == 0)
        conn = await asyncpg.connect(owner)
        try:
            await asyncio.sleep(max(0.0, due.timestamp() - time.time()))
            while True:
                done = await conn.fetchval("SELECT count(*) FROM runs WHERE status = 'succeeded'")
                unpublished = await conn.fetchval("SELECT count(*) FROM outbox")
                if done == n and unpublished == 0:
                    break
                await asyncio.sleep(0.05)
            elapsed = time.time() - due.timestamp()
            # schedule completed + run started + run succeeded, + each pool's registration
            # (the scheduler's own pool always runs, for Kairos' SYSTEM tasks)
            await expect_events(nc, 3 * n + processes + 1)
        finally:
            await conn.close()
            stop.set()
            await task
            await stop_workers(workers)
        return elapsed
    finally:
        await pool.close()


async def expect_events(nc: nats.aio.client.Client, expected: int) -> None:
    events = (await nc.jetstream().stream_info(STREAM)).state.messages
    if events != expected:
        raise SystemExit(f"the stream holds {events} events, expected {expected}")


async def contract_floor(pg: EmbeddedPostgres, nc: nats.aio.client.Client, n: int) -> float:
    """The same burst with no Kairos code: the contract as set-based SQL (bench/floor.py)."""
    due = await prepare(pg, nc, n)
    elapsed = await run_floor(pg.dsn_for("postgres"), nc, n, due, TENANT)
    conn = await asyncpg.connect(pg.dsn_for("postgres"))
    try:
        done = await conn.fetchval("SELECT count(*) FROM runs WHERE status = 'succeeded'")
        if done != n:
            raise SystemExit(f"floor: {done} of {n} runs succeeded")
    finally:
        await conn.close()
    await expect_events(nc, 3 * n)
    return elapsed


async def baseline(pg: EmbeddedPostgres, nc: nats.aio.client.Client, n: int) -> float:
    """Claim 500 with SKIP LOCKED, mark done, publish one message each; same rows."""
    owner = pg.dsn_for("postgres")
    conn = await asyncpg.connect(owner)
    js = nc.jetstream()
    await js.purge_stream(STREAM)
    try:
        await conn.execute("UPDATE runs SET status = 'pending', lease_token = 0")
        count = await conn.fetchval("SELECT count(*) FROM runs WHERE status = 'pending'")
        assert count == n, count
        start = time.perf_counter()
        while True:
            async with conn.transaction():
                rows = await conn.fetch(
                    "SELECT id, tenant_id FROM runs WHERE status = 'pending' "
                    "ORDER BY priority DESC, available_at LIMIT 500 FOR UPDATE SKIP LOCKED"
                )
                if not rows:
                    break
                await conn.execute(
                    "UPDATE runs SET status = 'succeeded' WHERE id = ANY($1::uuid[])",
                    [r["id"] for r in rows],
                )
            acks = [
                await js.publish_async(
                    f"scheduler.run.succeeded.{r['tenant_id']}",
                    b"{}",
                    headers={"Nats-Msg-Id": str(uuid.uuid4())},
                )
                for r in rows
            ]
            await asyncio.gather(*acks)
        return time.perf_counter() - start
    finally:
        await conn.close()


async def steady(
    pg: EmbeddedPostgres, nc: nats.aio.client.Client, rate: int, seconds: int
) -> list[float]:
    owner = pg.dsn_for("postgres")
    dsn = pg.dsn_for("postgres", "kairos_scheduler")
    await reset(owner)
    pool = await create_pool(dsn, max_size=8)
    db = PostgresDatabase(pool)
    latencies: list[float] = []
    try:
        async with db.system() as tx:
            now = await tx.now()
        job = make_job(now)
        first = (now + timedelta(seconds=3)).replace(microsecond=0)
        end = first + timedelta(seconds=seconds)
        schedules = [
            Schedule.create(
                now=now,
                id=ScheduleId(new_id()),
                tenant_id=TENANT,
                name=f"steady-{i}",
                job_id=job.id,
                timing=Timing(trigger=CronTrigger.parse("* * * * * *"), end_at=end),
                next_fire_at=first,
            )[0]
            for i in range(rate)
        ]
        await seed(db, schedules, job)

        async def on_event(msg: nats.aio.msg.Msg) -> None:
            arrived = time.time()
            data = json.loads(msg.data)["data"]
            nominal = data["nominal_at"]
            latencies.append(arrived - datetime.fromisoformat(nominal).timestamp())

        sub = await nc.subscribe("scheduler.run.succeeded.bench", cb=on_event)
        stop = asyncio.Event()
        task = await run_scheduler(db, nc, dsn, stop)
        await asyncio.sleep(max(0.0, end.timestamp() - time.time()) + 2.0)
        stop.set()
        await task
        await sub.unsubscribe()
    finally:
        await pool.close()
    return latencies


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=1, help="burst+baseline pairs")
    parser.add_argument(
        "--worker-processes",
        type=int,
        default=1,
        help="also measure the burst with this many `kairos worker` processes (0: skip)",
    )
    parser.add_argument("--steady-rate", type=int, default=500)
    parser.add_argument("--steady-seconds", type=int, default=60)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="kairos-bench-"))
    os.chmod(root, 0o755)  # the cluster runs as postgres
    pg = EmbeddedPostgres(root / "pg")
    server = EmbeddedNats(root / "nats")
    pg.start()
    server.start()
    try:
        await migrate(pg.dsn_for("postgres"))
        nc = await nats.connect(server.url)
        await JetStreamPublisher(nc).ensure_stream()
        ours, split, bare, floor = [], [], [], []
        for _ in range(args.rounds):
            ours.append(args.n / await burst(pg, nc, args.n, server.url, 0))
            bare.append(args.n / await baseline(pg, nc, args.n))
            if args.worker_processes:
                split.append(
                    args.n / await burst(pg, nc, args.n, server.url, args.worker_processes)
                )
            floor.append(args.n / await contract_floor(pg, nc, args.n))
        latencies = (
            await steady(pg, nc, args.steady_rate, args.steady_seconds)
            if args.steady_seconds > 0
            else []
        )
        await nc.drain()
    finally:
        server.stop()
        pg.stop()
    k, b = statistics.median(ours), statistics.median(bare)
    print(f"\nburst of {args.n:,} one-shot EVENT fires, {args.rounds} round(s), medians")
    print("| measure | fires/s | ratio |")
    print("|---|---:|---:|")
    print(
        f"| Kairos, one process: due -> all succeeded + events in stream "
        f"| {k:,.0f} | {k / b:.2f}x |"
    )
    if split:
        w, procs = statistics.median(split), args.worker_processes
        print(
            f"| Kairos, scheduler + {procs} `kairos worker` process(es) | {w:,.0f} | {w / b:.2f}x |"
        )
    f = statistics.median(floor)
    print(
        "| contract floor: the same writes, events and messages as set-based SQL, "
        f"no Kairos code (bench/floor.py) | {f:,.0f} | {f / b:.2f}x |"
    )
    print(f"| baseline: SKIP LOCKED claim + done + JetStream publish | {b:,.0f} | 1.00x |")
    print(f"\nKairos (one process) / contract floor: {k / f:.2f}x")
    if latencies:
        rate, secs = args.steady_rate, args.steady_seconds
        print(f"\nsteady {rate} fires/s for {secs} s: {len(latencies):,} runs")
        print("| latency (run.succeeded event arrival - nominal) | ms |")
        print("|---|---:|")
        print(f"| p50 | {quantile(latencies, 0.5) * 1000:.1f} |")
        print(f"| p99 | {quantile(latencies, 0.99) * 1000:.1f} |")
        print(f"| max | {max(latencies) * 1000:.1f} |")


if __name__ == "__main__":
    asyncio.run(main())

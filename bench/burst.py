"""Burst and steady-load benchmark of the durable engine on real servers.

    python bench/burst.py [--n 50000] [--steady-rates 500,1000] [--steady-seconds 60]
                          [--fast-disk]

Starts its own PostgreSQL and nats-server (as `kairos dev` does). PostgreSQL runs with
the settings users run it with: fsync, synchronous_commit and full_page_writes on, for
Kairos and the baseline alike. ``--fast-disk`` turns the three off (a throwaway
cluster's profile: what the code costs without waiting for the disk) and says so in
the table's title. Then it measures:

1. **Burst, instant path.** N one-shot schedules with EVENT targets, all due at the same
   instant, run by one scheduler replica (materialiser with the instant path, relay).
   Time from the due instant until every run is `succeeded` *and* every outbox event is
   in the JetStream stream.
1b. **Burst, lease path.** The same with the instant path off: every run is claimed by
   the built-in pool under a lease, delivered and recorded (``--worker-processes``
   also measures it with `kairos worker` processes).
1c. **The pool alone.** Those runs set back to ``pending``; the built-in pool claims,
   executes (no-op target) and records them and the relay publishes their events.
2. **Baseline** on the same servers and the same N run rows: a bare loop that claims a
   batch with `FOR UPDATE SKIP LOCKED`, marks it done and publishes one JetStream
   message per row (no leases, attempts, events or outbox).
3. **Contract floor** (``bench/floor.py``): the same burst with no Kairos code; every
   write, event and message docs/semantics.md requires per fire, as set-based SQL in parallel
   loops. What any implementation of the contract could at best reach here.
4. **Steady.** For each of `--steady-rates` fires/s (that many every-second cron
   schedules) for `--steady-seconds`, instant path on; latency = arrival of
   `scheduler.run.succeeded` at a subscriber minus the fire's nominal time, for fires
   from 3 s after the first (``WARM_UP``: the replica's start-up); p50 / p99 / max.

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
from service.runtime.processes import settle_heap

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


# Steady latency counts fires from this long after the first: the replica's first passes
# (its first leadership, re-planning every schedule's next fire, cold caches) are
# start-up, not the steady state.
WARM_UP = timedelta(seconds=3)

CAPACITY = int(os.environ.get("KAIROS_BENCH_CAPACITY", "1000"))  # runs in flight per pool


async def run_scheduler(
    system: PostgresDatabase,
    nc: nats.aio.client.Client,
    dsn: str,
    stop: asyncio.Event,
    *,
    pool: bool = True,
    instant: bool = True,
) -> asyncio.Task[None]:
    app = Scheduler(
        system,
        JetStreamPublisher(nc),
        {TargetKind.EVENT: EventTarget(nc)},
        SystemClock(),
        SchedulerSettings(worker_capacity=CAPACITY if pool else 0, instant=instant),
        changes=PostgresChangeFeed(dsn),
    )
    ready = asyncio.Event()
    task = asyncio.create_task(app.run(stop, ready))
    await ready.wait()
    settle_heap()  # as `kairos serve` does once ready
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


async def prepare(
    pg: EmbeddedPostgres, nc: nats.aio.client.Client, n: int, *, lead: float | None = None
) -> datetime:
    """Fresh tables, N one-shot EVENT schedules due at one instant (``lead`` seconds from
    now; by default just after the seeding), an empty stream; returns the due instant."""
    owner = pg.dsn_for("postgres")
    await reset(owner)
    pool = await create_pool(pg.dsn_for("postgres", "kairos_scheduler"), max_size=8)
    db = PostgresDatabase(pool)
    try:
        async with db.system() as tx:
            now = await tx.now()
        job = make_job(now)
        ahead = lead if lead is not None else 20 + n / 1000
        due = (now + timedelta(seconds=ahead)).replace(microsecond=0)
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
    pg: EmbeddedPostgres,
    nc: nats.aio.client.Client,
    n: int,
    nats_url: str,
    processes: int,
    *,
    instant: bool,
) -> float:
    """0 processes: the scheduler's built-in pool runs the fires; else that many
    ``kairos worker`` processes do. ``instant``: the instant path is on."""
    owner = pg.dsn_for("postgres")
    dsn = pg.dsn_for("postgres", "kairos_scheduler")
    due = await prepare(pg, nc, n)
    pool = await create_pool(dsn, max_size=8)
    db = PostgresDatabase(pool)
    try:
        stop = asyncio.Event()
        workers = await start_workers(processes, dsn, nats_url)
        task = await run_scheduler(db, nc, dsn, stop, pool=processes == 0, instant=instant)
        conn = await asyncpg.connect(owner)
        try:
            if time.time() > due.timestamp() - 1:
                # The replica's start-up (its first leadership re-plans every schedule's
                # next fire) would be timed as part of the burst.
                raise SystemExit("seeding and start-up took longer than the lead: raise it")
            await asyncio.sleep(max(0.0, due.timestamp() - time.time()))
            await drained(conn, n)
            elapsed = time.time() - due.timestamp()
            await expect_fire_events(nc, n, leased=not instant)
        finally:
            await conn.close()
            stop.set()
            await task
            await stop_workers(workers)
        return elapsed
    finally:
        await pool.close()


async def drained(conn: asyncpg.Connection, n: int) -> None:
    """Until all ``n`` runs are succeeded and the outbox is empty (every event in the
    stream): the end of a burst."""
    while True:
        done = await conn.fetchval("SELECT count(*) FROM runs WHERE status = 'succeeded'")
        left = await conn.fetchval("SELECT count(*) FROM outbox")
        if done == n and left == 0:
            return
        await asyncio.sleep(0.05)


async def expect_fire_events(nc: nats.aio.client.Client, n: int, *, leased: bool = False) -> None:
    """One schedule.completed and one run.succeeded per fire, and a run.started each
    only through a lease: each event exactly once (workers' own events aside)."""
    info = await nc.jetstream().stream_info(STREAM, subjects_filter="scheduler.>")
    by_type: dict[str, int] = {}
    for subject, messages in (info.state.subjects or {}).items():
        kind = subject.rsplit(".", 1)[0]
        by_type[kind] = by_type.get(kind, 0) + messages
    wanted = {
        "scheduler.schedule.completed": n,
        "scheduler.run.succeeded": n,
        "scheduler.run.started": n if leased else 0,
    }
    if {kind: by_type.get(kind, 0) for kind in wanted} != wanted:
        raise SystemExit(f"events in the stream: {by_type}, expected {wanted}")


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


class NoopTarget:
    """A target that accepts every attempt at once: what the pool itself costs."""

    async def execute(self, run: object, job: object) -> None:
        return None

    async def execute_many(self, items: list[object]) -> list[Exception | None]:
        return [None] * len(items)


async def pool_alone(pg: EmbeddedPostgres, nc: nats.aio.client.Client, n: int) -> float:
    """The lease path's own part: the N runs of the last burst back to ``pending``, then
    the built-in pool (one scheduler replica, nothing due to materialise) claims them
    under leases, executes them on a no-op target and records them, and the relay
    publishes their events. Seconds until every run is succeeded and the outbox empty."""
    owner = pg.dsn_for("postgres")
    dsn = pg.dsn_for("postgres", "kairos_scheduler")
    conn = await asyncpg.connect(owner)
    try:
        await conn.execute("TRUNCATE run_attempts, outbox")
        await conn.execute(
            "UPDATE runs SET status = 'pending', attempt = 0, lease_token = 0, "
            "started_at = NULL, ended_at = NULL, started_by = NULL"
        )
        await conn.execute("ANALYZE runs")
        await nc.jetstream().purge_stream(STREAM)
        pool = await create_pool(dsn, max_size=8)
        db = PostgresDatabase(pool)
        stop = asyncio.Event()
        app = Scheduler(
            db,
            JetStreamPublisher(nc),
            {TargetKind.EVENT: NoopTarget()},  # type: ignore[dict-item]
            SystemClock(),
            SchedulerSettings(worker_capacity=CAPACITY, instant=False),
            changes=PostgresChangeFeed(dsn),
        )
        ready = asyncio.Event()
        task = asyncio.create_task(app.run(stop, ready))
        await ready.wait()  # its first claim may already have started: no matter
        settle_heap()
        start = time.perf_counter()
        try:
            await drained(conn, n)
            return time.perf_counter() - start
        finally:
            stop.set()
            await task
            await pool.close()
    finally:
        await conn.close()


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
        measured_from = first + WARM_UP
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
            nominal = datetime.fromisoformat(data["nominal_at"])
            if nominal >= measured_from:  # the replica's first seconds are its start-up
                latencies.append(arrived - nominal.timestamp())

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
        default=0,
        help="also measure the lease path with this many `kairos worker` processes",
    )
    parser.add_argument("--steady-rates", default="500,1000")
    parser.add_argument("--steady-seconds", type=int, default=60)
    parser.add_argument(
        "--fast-disk",
        action="store_true",
        help="PostgreSQL with fsync, synchronous_commit and full_page_writes off",
    )
    parser.add_argument("--no-floor", action="store_true", help="skip the contract floor")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="kairos-bench-"))
    os.chmod(root, 0o755)  # the cluster runs as postgres
    pg = EmbeddedPostgres(root / "pg", durable=not args.fast_disk)
    server = EmbeddedNats(root / "nats")
    pg.start()
    server.start()
    rates = [int(r) for r in args.steady_rates.split(",") if r.strip()]
    steady_results: dict[int, list[float]] = {}
    try:
        await migrate(pg.dsn_for("postgres"))
        nc = await nats.connect(server.url)
        await JetStreamPublisher(nc).ensure_stream()
        fast, leased, alone, split, bare, floor = [], [], [], [], [], []
        for _ in range(args.rounds):
            fast.append(args.n / await burst(pg, nc, args.n, server.url, 0, instant=True))
            bare.append(args.n / await baseline(pg, nc, args.n))
            leased.append(args.n / await burst(pg, nc, args.n, server.url, 0, instant=False))
            alone.append(args.n / await pool_alone(pg, nc, args.n))
            if args.worker_processes:
                procs = args.worker_processes
                split.append(args.n / await burst(pg, nc, args.n, server.url, procs, instant=False))
            if not args.no_floor:
                floor.append(args.n / await contract_floor(pg, nc, args.n))
        if args.steady_seconds > 0:
            for rate in rates:
                steady_results[rate] = await steady(pg, nc, rate, args.steady_seconds)
        await nc.drain()
    finally:
        server.stop()
        pg.stop()
    disk = (
        "fast disk: fsync, synchronous_commit, full_page_writes off"
        if args.fast_disk
        else "durable: fsync, synchronous_commit, full_page_writes on"
    )
    k, b = statistics.median(fast), statistics.median(bare)
    lp = statistics.median(leased)
    print(f"\nburst of {args.n:,} one-shot EVENT fires, {args.rounds} round(s), medians; {disk}")
    print("| measure | fires/s | ratio |")
    print("|---|---:|---:|")
    print(
        "| Kairos, instant path: due -> all succeeded + events in stream "
        f"| {k:,.0f} | {k / b:.2f}x |"
    )
    print(
        "| Kairos, lease path (built-in pool claims, delivers, records) "
        f"| {lp:,.0f} | {lp / b:.2f}x |"
    )
    pa = statistics.median(alone)
    print(
        "| Kairos, lease path, the pool alone: claim, no-op target, record, relay "
        f"| {pa:,.0f} | {pa / b:.2f}x |"
    )
    if split:
        w, procs = statistics.median(split), args.worker_processes
        print(
            f"| Kairos, lease path, scheduler + {procs} `kairos worker` process(es) "
            f"| {w:,.0f} | {w / b:.2f}x |"
        )
    if floor:
        f = statistics.median(floor)
        print(
            "| contract floor of the lease path: its writes, events and messages as "
            f"set-based SQL, no Kairos code (bench/floor.py) | {f:,.0f} | {f / b:.2f}x |"
        )
    print(f"| baseline: SKIP LOCKED claim + done + JetStream publish | {b:,.0f} | 1.00x |")
    for rate, latencies in steady_results.items():
        secs = args.steady_seconds
        print(
            f"\nsteady {rate} fires/s for {secs} s, instant path: {len(latencies):,} runs; {disk}"
        )
        print("| latency (run.succeeded event arrival - nominal) | ms |")
        print("|---|---:|")
        if latencies:
            print(f"| p50 | {quantile(latencies, 0.5) * 1000:.1f} |")
            print(f"| p99 | {quantile(latencies, 0.99) * 1000:.1f} |")
            print(f"| max | {max(latencies) * 1000:.1f} |")


if __name__ == "__main__":
    asyncio.run(main())

"""Failover of the scheduler's leadership on real servers.

    python bench/failover.py [--schedules 20] [--freeze 35]

Starts its own PostgreSQL and nats-server, every-second EVENT schedules (overlap
``skip``, the default) and three scheduler replicas as separate processes (the
``Scheduler`` of ``kairos serve``, with built-in worker pools). Then:

1. ``kill -9`` of the leader: seconds until another replica holds the lease.
2. ``SIGSTOP`` of the (new) leader for ``--freeze`` seconds: seconds until another
   replica holds the lease; after ``SIGCONT``, how the resumed one behaves.
3. Over the whole run: every fire's outcome (runs by status, ``skipped`` for overlap),
   and that no fire has two runs.

Prints one table. Takeover times are measured by polling the lease row every 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import asyncpg
import nats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.clock import SystemClock
from adapters.embedded.nats import EmbeddedNats
from adapters.embedded.postgres import EmbeddedPostgres
from adapters.nats.event_target import EventTarget
from adapters.nats.publisher import JetStreamPublisher
from adapters.postgres.database import PostgresDatabase, create_pool
from adapters.postgres.migrate import migrate
from adapters.postgres.notifications import PostgresChangeFeed
from domain.ids import JobId, ScheduleId, TenantId, new_id
from domain.job import Job, Target, TargetKind
from domain.schedule import Schedule
from domain.timing import Timing
from domain.triggers import CronTrigger
from service.loops.scheduler import Scheduler, SchedulerSettings

TENANT = TenantId("bench")


async def replica(dsn: str, nats_url: str, name: str) -> None:
    """One replica until SIGTERM (the orchestrator's child process)."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(message)s")
    pool = await create_pool(dsn)
    nc = await nats.connect(nats_url, max_reconnect_attempts=-1)
    app = Scheduler(
        PostgresDatabase(pool),
        JetStreamPublisher(nc),
        {TargetKind.EVENT: EventTarget(nc)},
        SystemClock(),
        SchedulerSettings(replica=name, worker_capacity=16),
        changes=PostgresChangeFeed(dsn),
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    ready = asyncio.Event()
    task = asyncio.create_task(app.run(stop, ready))
    await ready.wait()
    print("ready", flush=True)
    await task
    await nc.drain()
    await pool.close()


async def seed(dsn: str, count: int) -> None:
    pool = await create_pool(dsn, max_size=2)
    db = PostgresDatabase(pool)
    try:
        async with db.system() as tx:
            now = await tx.now()
        job = Job(
            id=JobId(new_id()),
            tenant_id=TENANT,
            name="tick",
            target=Target(kind=TargetKind.EVENT, config={"subject": "bench.tick"}),
            created_at=now,
            updated_at=now,
        )
        timing = Timing(trigger=CronTrigger.parse("* * * * * *"))
        first = (now + timedelta(seconds=2)).replace(microsecond=0)
        async with db.transaction(TENANT) as tx:
            await tx.jobs.add(job)
            for i in range(count):
                schedule, _ = Schedule.create(
                    now=now,
                    id=ScheduleId(new_id()),
                    tenant_id=TENANT,
                    name=f"tick-{i}",
                    job_id=job.id,
                    timing=timing,
                    next_fire_at=first,
                )
                await tx.schedules.add(schedule)
    finally:
        await pool.close()


def log_file(path: Path) -> int:
    """A child's stderr: a descriptor it inherits and keeps after we close ours."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)


async def lease(owner: asyncpg.Connection) -> tuple[str, int] | None:
    row = await owner.fetchrow(
        "SELECT holder, epoch FROM leader_lease WHERE name = 'scheduler'"
        " AND expires_at > clock_timestamp()"
    )
    return None if row is None else (row["holder"], row["epoch"])


async def takeover(owner: asyncpg.Connection, old: tuple[str, int], limit: float) -> float:
    """Seconds until a lease with a higher epoch held by another replica is live."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        now = await lease(owner)
        if now is not None and now[1] > old[1] and now[0] != old[0]:
            return time.monotonic() - start
        await asyncio.sleep(0.05)
    return float("inf")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=20)
    parser.add_argument("--freeze", type=float, default=35.0)
    parser.add_argument("--replica", nargs=3, metavar=("DSN", "NATS", "NAME"))
    args = parser.parse_args()
    if args.replica:
        await replica(*args.replica)
        return
    root = Path(tempfile.mkdtemp(prefix="kairos-failover-"))
    os.chmod(root, 0o755)  # the cluster runs as postgres
    pg = EmbeddedPostgres(root / "pg")
    server = EmbeddedNats(root / "nats")
    pg.start()
    server.start()
    procs: dict[str, asyncio.subprocess.Process] = {}
    try:
        await migrate(pg.dsn_for("postgres"))
        dsn = pg.dsn_for("postgres", "kairos_scheduler")
        await seed(dsn, args.schedules)
        nc = await nats.connect(server.url)
        await JetStreamPublisher(nc).ensure_stream()
        await nc.drain()
        for name in ("r0", "r1", "r2"):
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "--replica",
                dsn,
                server.url,
                name,
                stdout=asyncio.subprocess.PIPE,
                stderr=log_file(root / f"{name}.log"),
            )
            assert proc.stdout is not None
            await asyncio.wait_for(proc.stdout.readline(), 30)
            procs[name] = proc
        owner = await asyncpg.connect(pg.dsn_for("postgres"))
        started = await owner.fetchval("SELECT now()")
        await asyncio.sleep(10)
        leader = await lease(owner)
        assert leader is not None
        procs[leader[0]].send_signal(signal.SIGKILL)
        killed = await takeover(owner, leader, 60)
        await asyncio.sleep(10)
        leader = await lease(owner)
        assert leader is not None
        frozen = procs[leader[0]]
        frozen.send_signal(signal.SIGSTOP)
        froze = await takeover(owner, leader, args.freeze)
        remaining = args.freeze - froze if froze != float("inf") else 0
        await asyncio.sleep(max(0.0, remaining))
        frozen.send_signal(signal.SIGCONT)
        await asyncio.sleep(10)
        ended = await owner.fetchval("SELECT now()")
        rows = await owner.fetch(
            "SELECT status, coalesce(reason, '') AS reason, count(*) AS n FROM runs"
            " WHERE nominal_at >= $1 AND nominal_at < $2::timestamptz - interval '5 seconds'"
            " GROUP BY 1, 2 ORDER BY 3 DESC",
            started,
            ended,
        )
        twice = await owner.fetchval(
            "SELECT count(*) FROM (SELECT 1 FROM runs GROUP BY tenant_id, schedule_id,"
            " nominal_at HAVING count(*) > 1) d"
        )
        await owner.close()
    finally:
        for proc in procs.values():
            if proc.returncode is None:
                proc.send_signal(signal.SIGCONT)
                proc.terminate()
        for proc in procs.values():
            await proc.wait()
        server.stop()
        pg.stop()
    total = sum(r["n"] for r in rows)
    skipped = sum(r["n"] for r in rows if r["status"] == "skipped")
    print(f"\n{args.schedules} every-second schedules (skip), 3 replicas, logs in {root}")
    print("| measure | value |")
    print("|---|---|")
    print(f"| takeover after kill -9 of the leader | {killed:.2f} s |")
    print(f"| takeover after SIGSTOP of the leader ({args.freeze:.0f} s) | {froze:.2f} s |")
    print(f"| fires in the window | {total} |")
    print(f"| skipped | {skipped} ({100 * skipped / max(total, 1):.1f} %) |")
    print(f"| fires with two runs | {twice} |")
    for r in rows:
        print(f"| status {r['status']} {r['reason'][:40]} | {r['n']} |")


if __name__ == "__main__":
    asyncio.run(main())

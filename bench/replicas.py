"""Scale-out of the instant path: the same burst materialised by 1, 2 and 4 replicas.

    python bench/replicas.py [--n 50000] [--replicas 1,2,4] [--fast-disk]

Starts its own PostgreSQL (durable: fsync, synchronous_commit, full_page_writes on,
unless ``--fast-disk``) and nats-server. For each replica count R: N one-shot EVENT
schedules due at one instant, R scheduler replicas as separate processes
(``bench/replica.py``: one ``Scheduler`` each, the instant path on) that share the 64
partitions, and the time from the due instant until every run is ``succeeded`` and every
event is in the stream. The same run measures the baseline of ``bench/burst.py`` on the
same rows. Beside each rate: the CPU each replica, PostgreSQL (all its processes) and
nats-server used during the burst, as a share of one core, read from /proc - where the
time goes once one process is no longer the limit (this machine has 2 cores).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import nats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.embedded.nats import EmbeddedNats
from adapters.embedded.postgres import EmbeddedPostgres
from adapters.nats.publisher import STREAM, JetStreamPublisher
from adapters.postgres.migrate import migrate
from bench.burst import baseline, drained, expect_fire_events, prepare

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def cpu_of(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        try:
            out[pid] = cpu_seconds(pid)
        except OSError:
            continue
    return out


async def start_replicas(count: int, dsn: str, nats_url: str) -> list[asyncio.subprocess.Process]:
    script = str(Path(__file__).with_name("replica.py"))
    procs = []
    for i in range(count):
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            script,
            dsn,
            nats_url,
            f"bench-replica-{i}",
            stdout=asyncio.subprocess.PIPE,
        )
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert b"ready" in line, line
        procs.append(proc)
    return procs


async def shared(owner: str, count: int, within: float = 60.0) -> None:
    """Until ``count`` replicas hold live partition leases and none is unled."""
    conn = await asyncpg.connect(owner)
    try:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            row = await conn.fetchrow(
                "SELECT count(DISTINCT holder) AS holders, count(*) AS led "
                "FROM leader_lease WHERE name LIKE 'partition/%' AND expires_at > now()"
            )
            total = await conn.fetchval("SELECT partitions FROM kairos_settings")
            if row["holders"] == count and row["led"] == total:
                return
            await asyncio.sleep(0.2)
        raise SystemExit(f"{count} replicas did not share the partitions in {within} s")
    finally:
        await conn.close()


async def one(
    pg: EmbeddedPostgres, nc: nats.aio.client.Client, server: EmbeddedNats, n: int, count: int
) -> tuple[float, list[float], float, float, float]:
    """(fires/s, each replica's CPU share, PostgreSQL's, nats-server's, WAL bytes per
    fire)."""
    owner = pg.dsn_for("postgres")
    dsn = pg.dsn_for("postgres", "kairos_scheduler")
    due = await prepare(pg, nc, n, lead=30 + n / 2000)
    procs = await start_replicas(count, dsn, server.url)
    try:
        await shared(owner, count)
        if time.time() > due.timestamp() - 1:
            # Start-up (the first leader re-plans every schedule's next fire) would be
            # measured as part of the burst, and its CPU missed.
            raise SystemExit("seeding and start-up took longer than the lead: raise it")
        await asyncio.sleep(max(0.0, due.timestamp() - time.time() - 0.5))
        pids = [p.pid for p in procs]
        pg_pids = postgres_pids()
        nats_pid = server.pid
        assert nats_pid is not None
        before = cpu_of([*pids, *pg_pids, nats_pid])
        conn = await asyncpg.connect(owner)
        try:
            wal_from = await conn.fetchval("SELECT pg_current_wal_lsn()")
            await asyncio.sleep(max(0.0, due.timestamp() - time.time()))
            await drained(conn, n)
            elapsed = time.time() - due.timestamp()
            wal = await conn.fetchval(
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)", wal_from
            )
        finally:
            await conn.close()
        after = cpu_of([*pids, *pg_pids, nats_pid])
        window = elapsed + 0.5

        def share(pid: int) -> float:
            return (after.get(pid, 0.0) - before.get(pid, 0.0)) / window

        await expect_fire_events(nc, n)
        return (
            n / elapsed,
            [share(pid) for pid in pids],
            sum(share(pid) for pid in pg_pids),
            share(nats_pid),
            float(wal) / n,
        )
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            await proc.wait()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--replicas", default="1,2,4")
    parser.add_argument("--fast-disk", action="store_true")
    parser.add_argument("--rounds", type=int, default=1, help="runs per replica count")
    args = parser.parse_args()
    counts = [int(c) for c in args.replicas.split(",")]
    root = Path(tempfile.mkdtemp(prefix="kairos-replicas-"))
    os.chmod(root, 0o755)
    pg = EmbeddedPostgres(root / "pg", durable=not args.fast_disk)
    server = EmbeddedNats(root / "nats")
    pg.start()
    server.start()
    runs: dict[int, list[tuple[float, list[float], float, float, float]]] = {}
    results = {}
    bare = []
    try:
        await migrate(pg.dsn_for("postgres"))
        nc = await nats.connect(server.url)
        await JetStreamPublisher(nc).ensure_stream()
        for _ in range(args.rounds):
            for count in counts:
                result = await one(pg, nc, server, args.n, count)
                print(f"{count} replica(s): {result}", flush=True)
                runs.setdefault(count, []).append(result)
                bare.append(args.n / await baseline(pg, nc, args.n))
        for count, measured in runs.items():
            # the round with the median rate, whole (its CPU figures belong to it)
            results[count] = sorted(measured)[len(measured) // 2]
        await nc.jetstream().purge_stream(STREAM)
        await nc.drain()
    finally:
        server.stop()
        pg.stop()
    b = statistics.median(bare)
    disk = (
        "fast disk" if args.fast_disk else "durable: fsync, synchronous_commit, full_page_writes on"
    )
    print(
        f"\nburst of {args.n:,} one-shot EVENT fires on the instant path, {args.rounds} "
        f"round(s), the median round per replica count; {disk}"
    )
    print(
        "| replicas | fires/s | vs baseline | CPU per replica (cores) | PostgreSQL "
        "| nats-server | replicas µs/fire | PostgreSQL µs/fire | WAL B/fire |"
    )
    print("|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    for count, (rate, shares, pg_cpu, nats_cpu, wal) in results.items():
        per = ", ".join(f"{s:.2f}" for s in shares)
        print(
            f"| {count} | {rate:,.0f} | {rate / b:.2f}x | {per} | {pg_cpu:.2f} "
            f"| {nats_cpu:.2f} | {sum(shares) / rate * 1e6:.0f} | {pg_cpu / rate * 1e6:.0f} "
            f"| {wal:,.0f} |"
        )
    print(f"| baseline (median of {len(bare)}) | {b:,.0f} | 1.00x | | | | | | |")


if __name__ == "__main__":
    asyncio.run(main())

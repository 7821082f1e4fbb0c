"""Throughput of runs executed by external SDK workers, next to the built-in pool.

    python bench/workers.py [--n 2000] [--rounds 3] [--processes 1 2 4]

Starts its own PostgreSQL and nats-server, one `kairos serve --workers 0` (scheduler
loops + the REST API) and a no-op HTTP receiver process. Each measurement puts N
pending runs in one transaction with the workers already registered and waiting, and
times until all N are `succeeded`:

- **built-in pool**: the in-process `WorkerPool` (capacity 32) of this benchmark's own
  process, HTTP target jobs, each run one signed POST to the receiver;
- **SDK workers ×k**: k `bench/sdk_worker.py` processes (concurrency 32 each) speaking
  the external protocol to the API (long-poll claim, complete), each run one POST to the
  receiver from the handler.

Prints runs/s (median of the rounds) and the ratio to the built-in pool measured in the
same run. The machine is shared and noisy: compare ratios, not absolute numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.auth.tokens import DEV_AUDIENCE, DEV_ISSUER, DevKeys
from adapters.clock import SystemClock
from adapters.embedded.nats import EmbeddedNats
from adapters.embedded.postgres import EmbeddedPostgres
from adapters.http_target.executor import HttpTargetExecutor
from adapters.http_target.ssrf import parse_allowlist
from adapters.postgres.database import PostgresDatabase, create_pool
from adapters.postgres.migrate import migrate
from adapters.secrets import FernetSecretBox
from domain.ids import JobId, TenantId, new_id
from domain.job import Priority, Target, TargetKind
from domain.run import NewRun, Run, RunOrigin
from domain.schedule import OverlapPolicy
from domain.timing import Timing
from domain.triggers import CronTrigger
from service.loops.worker_pool import WorkerPool
from service.usecases import jobs
from service.usecases.schedules import create_schedule

TENANT = TenantId("bench")
HERE = Path(__file__).resolve().parent
LOG = open(os.environ.get("BENCH_LOG", os.devnull), "ab")  # noqa: SIM115 (for the whole run)
BOX = FernetSecretBox(FernetSecretBox.generate_key())


async def put_runs(
    db: PostgresDatabase, kind: TargetKind, config: dict[str, str], n: int
) -> tuple[JobId, float]:
    """A fresh job, its schedule and N pending runs committed at once; answers the job
    and the commit time."""
    name = f"bench-{kind.value.lower()}-{new_id().hex[:8]}"
    job, _ = await jobs.create_job(
        db,
        tenant_id=TENANT,
        name=name,
        target=Target(kind=kind, config=config),
        box=BOX,
        max_attempts=3,
    )
    schedule = await create_schedule(
        db,
        tenant_id=TENANT,
        name=name,
        job_id=job.id,
        timing=Timing(trigger=CronTrigger.parse("0 3 1 1 *")),
        overlap_policy=OverlapPolicy.ALLOW,
    )
    async with db.transaction(TENANT) as tx:
        now = await tx.now()
        runs = [
            Run.dispatched(
                NewRun(
                    tenant_id=TENANT,
                    schedule_id=schedule.id,
                    job_id=job.id,
                    nominal_at=now - timedelta(microseconds=i + 1),
                    dispatch_at=now,
                    max_attempts=3,
                    priority=Priority.NORMAL,
                    capability=job.capability,
                    origin=RunOrigin.MANUAL,
                    payload={"i": i},
                ),
                now=now,
            )[0]
            for i in range(n)
        ]
        await tx.runs.add_many(runs)
    return job.id, time.perf_counter()


async def until_done(owner_dsn: str, job_id: JobId, n: int, started: float) -> float:
    conn = await asyncpg.connect(owner_dsn)
    try:
        while True:
            done = await conn.fetchval(
                "SELECT count(*) FROM runs WHERE job_id = $1 AND status = 'succeeded'", job_id
            )
            if done >= n:
                return time.perf_counter() - started
            failed = await conn.fetchval(
                "SELECT count(*) FROM runs WHERE job_id = $1 AND status = 'dead'", job_id
            )
            if failed:
                raise RuntimeError(f"{failed} runs failed")
            await asyncio.sleep(0.05)
    finally:
        await conn.close()


async def builtin(pg: EmbeddedPostgres, receiver: str, n: int) -> float:
    app_pool = await create_pool(pg.dsn_for("postgres", "kairos_app"))
    system_pool = await create_pool(pg.dsn_for("postgres", "kairos_scheduler"))
    app, system = PostgresDatabase(app_pool), PostgresDatabase(system_pool)
    http = HttpTargetExecutor(BOX, SystemClock(), allow=parse_allowlist("127.0.0.1/32"))
    pool = WorkerPool(system, {TargetKind.HTTP: http}, SystemClock(), capacity=32)
    stop = asyncio.Event()
    task = asyncio.create_task(pool.run(stop))
    try:
        job_id, started = await put_runs(app, TargetKind.HTTP, {"url": receiver}, n)
        return await until_done(pg.dsn_for("postgres"), job_id, n, started)
    finally:
        stop.set()
        await task
        await http.aclose()
        await app_pool.close()
        await system_pool.close()


async def sdk(
    pg: EmbeddedPostgres, api: str, token: str, receiver: str, *, n: int, processes: int
) -> float:
    app_pool = await create_pool(pg.dsn_for("postgres", "kairos_app"))
    app = PostgresDatabase(app_pool)
    procs = []
    env = {**os.environ, "KAIROS_API_URL": api, "RECEIVER_URL": receiver, "KAIROS_TOKEN": token}
    for _ in range(processes):
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(HERE / "sdk_worker.py"),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert proc.stdout is not None
        assert b"ready" in await asyncio.wait_for(proc.stdout.readline(), 30)
        procs.append(proc)
    conn = await asyncpg.connect(pg.dsn_for("postgres"))
    try:
        online = "SELECT count(*) FROM workers WHERE state = 'online'"
        while await conn.fetchval(online) < processes:  # noqa: ASYNC110 (other processes)
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    try:
        job_id, started = await put_runs(app, TargetKind.WORKER, {"type": "bench.noop"}, n)
        return await until_done(pg.dsn_for("postgres"), job_id, n, started)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            await proc.wait()
        await app_pool.close()


async def start(
    *command: str, env: dict[str, str] | None = None
) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=LOG, env=env
    )
    assert proc.stdout is not None
    return proc, (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="kairos-bench-workers-"))
    os.chmod(root, 0o755)  # the cluster runs as postgres
    pg = EmbeddedPostgres(root / "pg")
    nats_server = EmbeddedNats(root / "nats")
    pg.start()
    nats_server.start()
    receiver_proc = serve_proc = None
    try:
        await migrate(pg.dsn_for("postgres"))
        receiver_proc, port = await start(sys.executable, str(HERE / "noop_receiver.py"))
        receiver = f"http://127.0.0.1:{port}/hook"
        kairos = str(Path(sys.executable).with_name("kairos"))
        keys = DevKeys(root / "auth").ensure()
        token = keys.mint("bench", ["scheduler:operate"], ttl=timedelta(hours=2), now=time.time())
        auth = {
            "KAIROS_AUTH_JWKS_FILE": str(keys.jwks_file),
            "KAIROS_AUTH_ISSUER": DEV_ISSUER,
            "KAIROS_AUTH_AUDIENCE": DEV_AUDIENCE,
        }
        serve_proc, line = await start(
            kairos,
            "serve",
            "--database-url",
            pg.dsn_for("postgres", "kairos_scheduler"),
            "--nats-url",
            nats_server.url,
            "--api-port",
            "0",
            "--workers",
            "0",
            env={**os.environ, **auth},
        )
        api = line.split()[3].rstrip(",")
        results: dict[str, list[float]] = {"builtin": []}
        for _ in range(args.rounds):
            results["builtin"].append(args.n / await builtin(pg, receiver, args.n))
            for k in args.processes:
                rate = args.n / await sdk(pg, api, token, receiver, n=args.n, processes=k)
                results.setdefault(f"sdk{k}", []).append(rate)
    finally:
        for proc in (serve_proc, receiver_proc):
            if proc is not None:
                proc.terminate()
                await proc.wait()
        nats_server.stop()
        pg.stop()
    base = statistics.median(results["builtin"])
    print(f"\n{args.n:,} runs per measurement, {args.rounds} round(s), medians (runs/s)")
    print("| executed by | runs/s | ratio to built-in pool |")
    print("|---|---:|---:|")
    print(f"| built-in pool (in-process, capacity 32), HTTP target | {base:,.0f} | 1.00x |")
    for k in args.processes:
        rate = statistics.median(results[f"sdk{k}"])
        label = f"{k} SDK worker process{'es' if k > 1 else ''} (32 each), REST protocol"
        print(f"| {label} | {rate:,.0f} | {rate / base:.2f}x |")
    print(
        "\nrounds (runs/s): "
        + ", ".join(f"{name} {[round(r) for r in rates]}" for name, rates in results.items())
    )


if __name__ == "__main__":
    asyncio.run(main())

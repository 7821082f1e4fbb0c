"""Chaos suite: a small Kairos cluster under a fault schedule, then what survived.

    python bench/chaos.py --duration 600 [--seed N] [--json out.json] [--keep]

Starts PostgreSQL (fsync and ``synchronous_commit`` on) and nats-server (JetStream,
fsync after every write) on free ports, migrates, then 3 ``kairos serve --workers 2``
replicas and 2 ``kairos worker`` processes as real subprocesses, supervised: a process
that exits by itself is restarted and counted. Two tenants each get, through
``kairos apply``, 20 every-second EVENT schedules, 2 every-2-second QUEUE schedules and
1 every-5-second HTTP schedule whose receiver (``bench/slow_receiver.py``, in this
process) answers after 3 s; default policies.

Faults during ``--duration`` seconds (the fixed ones placed at fractions of it):
kill -9 of a replica every 5-20 s (every other one the leader), the leader SIGSTOPped
for 35 s (past the lease ttl), a ``kairos worker`` killed while it holds runs,
nats-server killed -9 and restarted twice, PostgreSQL stopped with ``pg_ctl stop -m
immediate`` and started 4 s later; one replica runs 45 s behind under libfaketime when
the Debian ``faketime`` package is installed (``make chaos-deps``). Killed processes
come back 2 s later, as a supervisor would bring them back.

Then the faults stop, the schedules are paused through the API and the system settles.
The checks, from SQL and the streams:

- every fire of the window (each schedule's nominal times) is exactly one run row (or
  stands in a missed summary), none off the rule;
- no run is left scheduled, pending or running;
- every succeeded EVENT run's message is in ``KAIROS_INBOUND`` (which captures the
  tenants' ``t.>`` namespace) and every succeeded QUEUE run's in ``KAIROS_Q_<tenant>``,
  exactly once (by ``Nats-Msg-Id`` = run id); every succeeded HTTP run reached the
  receiver;
- every event written to the outbox is in ``KAIROS_EVENTS`` exactly once (the relay
  deletes what it published, so a statement trigger installed by this harness copies
  each outbox insert into ``chaos.outbox_log``);
- no process exited by itself;
- a new leader materialises within 3 s (median) of a leader's kill -9 and within
  ttl + 2 s of a freeze; fires skipped by overlap stay under 5 %.

Prints one table; exits 1 when a check fails (2 when the harness itself broke).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import glob
import itertools
import json
import math
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.auth.tokens import DEV_AUDIENCE, DEV_ISSUER, DevKeys
from adapters.embedded.nats import EmbeddedNats
from adapters.embedded.ports import free_port
from adapters.embedded.postgres import EmbeddedPostgres
from adapters.postgres.migrate import migrate
from adapters.secrets import FernetSecretBox
from bench.slow_receiver import SlowReceiver
from service.loops.scheduler import SchedulerSettings

TENANTS = ("acme", "globex")
EVENT_SCHEDULES, QUEUE_SCHEDULES, HTTP_SCHEDULES = 20, 2, 1
PERIOD = {"ev": 1, "q": 2, "http": 5}  # seconds between fires, by schedule kind
REPLICAS, WORKERS = 3, 2
POOL_LEASE = 10.0  # the built-in pools' lease (service/loops/worker_pool.py POOL_LEASE)
TTL = SchedulerSettings().lease_ttl.total_seconds()
FREEZE = 35.0  # past the ttl
HTTP_DELAY = 3.0
RESTART_AFTER = 2.0
FAKETIME_OFFSET = "-45s"
WARMUP, QUIET, SETTLE = 10.0, 15.0, 90.0
MIN_DURATION = 100.0  # room for the fixed faults one after another
KAIROS = str(Path(sys.executable).with_name("kairos"))
LEADERSHIP = re.compile(r"leadership (\S+) -> (\d+)")
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Group|Exit)\b.*")
ACTIVE = ("scheduled", "pending", "running")
RUNS_OF_SCHEDULES = "runs r JOIN schedules s ON s.tenant_id = r.tenant_id AND s.id = r.schedule_id"

# The relay deletes published outbox rows, so nothing would remain to compare the stream
# with: a statement trigger (owned by the superuser, outside Kairos' schema) keeps the ids.
OUTBOX_LOG = """
CREATE SCHEMA chaos;
CREATE TABLE chaos.outbox_log (
    event_id  uuid        NOT NULL,
    tenant_id text        NOT NULL,
    type      text        NOT NULL,
    logged_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE FUNCTION chaos.log_outbox() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
    INSERT INTO chaos.outbox_log (event_id, tenant_id, type)
    SELECT event_id, tenant_id, type FROM fresh;
    RETURN NULL;
END $$;
CREATE TRIGGER chaos_outbox_log AFTER INSERT ON public.outbox
    REFERENCING NEW TABLE AS fresh FOR EACH STATEMENT EXECUTE FUNCTION chaos.log_outbox();
"""


def say(text: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def faketime_library() -> str | None:
    """libfaketime from the Debian package, if installed (never installed from here)."""
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    return found[0] if found else None


@dataclass
class Managed:
    """One supervised subprocess (a replica or a worker)."""

    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    killed: bool = False  # by the harness: its exit is expected
    frozen: bool = False
    restart_at: float | None = None
    started_at: float = 0.0
    starts: int = 0
    epochs: set[int] = field(default_factory=set)  # lease epochs this instance logged
    self_exits: list[dict[str, Any]] = field(default_factory=list)
    _log_offset: int = 0

    def start(self) -> None:
        self.new_log_lines()  # what the previous instance wrote is not this one's
        self.epochs.clear()
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.command,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,  # a Ctrl-C to the harness is the harness's
            )
        self.killed, self.frozen, self.restart_at = False, False, None
        self.started_at = time.time()
        self.starts += 1

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        if self.alive:
            assert self.proc is not None
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, sig)

    def kill(self, restart_in: float | None) -> None:
        self.killed = True
        self.signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()
        self.frozen = False
        self.restart_at = None if restart_in is None else time.time() + restart_in

    def stop(self) -> None:
        """SIGTERM (after SIGCONT, in case it is frozen), then SIGKILL after 15 s."""
        self.killed = True
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def new_log_lines(self) -> list[str]:
        try:
            with self.log.open("rb") as handle:
                handle.seek(self._log_offset)
                data = handle.read()
        except OSError:
            return []
        cut = data.rfind(b"\n") + 1
        self._log_offset += cut
        return data[:cut].decode("utf-8", "replace").splitlines()

    def log_tail(self, lines: int = 8) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])


@dataclass
class Sample:
    at: float
    holder: str | None
    epoch: int | None
    live: bool | None  # None: the database did not answer


@dataclass
class Takeover:
    """A fault that took the leader away: a kill -9 or a freeze."""

    kind: str  # "kill" | "freeze"
    at: float
    process: str
    holder: str
    epoch: int
    new_epoch_seen: float | None = None
    materialised: float | None = None

    @property
    def seconds(self) -> float | None:
        return None if self.materialised is None else self.materialised - self.at


@dataclass
class Outage:
    what: str
    start: float
    end: float | None = None


class Chaos:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.root = Path(tempfile.mkdtemp(prefix="kairos-chaos-"))
        self.root.chmod(0o755)  # the cluster runs as postgres when we are root
        self.pg = EmbeddedPostgres(self.root / "pg", durable=True)
        self.nats = EmbeddedNats(self.root / "nats", durable=True)
        self.receiver = SlowReceiver(delay=HTTP_DELAY)
        self.keys = DevKeys(self.root / "auth").ensure()
        self.processes: list[Managed] = []
        self.api: dict[str, str] = {}
        self.samples: list[Sample] = []
        self.takeovers: list[Takeover] = []
        self.outages: list[Outage] = []
        self.faults: list[str] = []
        # Kills of processes that were not the leader: (when, name). Their held runs
        # come back when their leases lapse; fires meanwhile may be skipped by overlap.
        self.kills: list[tuple[float, str]] = []
        self.pg_up = self.nats_up = True
        self.faketime = faketime_library()
        self.stopping = asyncio.Event()
        self.blackouts: list[tuple[float, float]] = []
        self.passed = False  # every check held (``--keep-failed`` keeps the data otherwise)

    # -- servers and processes ------------------------------------------------------

    @property
    def owner_dsn(self) -> str:
        return self.pg.dsn_for("postgres")

    @property
    def service_dsn(self) -> str:
        return self.pg.dsn_for("postgres", "kairos_scheduler")

    async def setup(self) -> None:
        say(f"servers under {self.root}")
        self.pg.start()
        self.nats.start()
        await migrate(self.owner_dsn)
        conn = await asyncpg.connect(self.owner_dsn)
        try:
            await conn.execute(OUTBOX_LOG)
        finally:
            await conn.close()
        await self.receiver.start()
        env = {
            **os.environ,
            "KAIROS_AUTH_JWKS_FILE": str(self.keys.jwks_file),
            "KAIROS_AUTH_ISSUER": DEV_ISSUER,
            "KAIROS_AUTH_AUDIENCE": DEV_AUDIENCE,
            # kairos serve refuses loopback webhooks unless the operator allows them.
            "KAIROS_HTTP_ALLOW": "127.0.0.1/32",
            "KAIROS_SECRET_KEY": FernetSecretBox.generate_key(),
            "KAIROS_LOG_FORMAT": "json",
        }
        logs = self.root / "logs"
        logs.mkdir()
        servers = ["--database-url", self.service_dsn, "--nats-url", self.nats.url]
        for i in range(1, REPLICAS + 1):
            name, port = f"r{i}", free_port()
            self.api[name] = f"http://127.0.0.1:{port}"
            replica_env = dict(env)
            if i == REPLICAS and self.faketime:
                replica_env.update(
                    LD_PRELOAD=self.faketime,
                    FAKETIME=FAKETIME_OFFSET,
                    # asyncio's timers run on the monotonic clock: leave it alone.
                    FAKETIME_DONT_FAKE_MONOTONIC="1",
                )
                name = f"r{i}-faketime"
                self.api[name] = self.api.pop(f"r{i}")
            command = [KAIROS, "serve", *servers, "--api-port", str(port), "--workers", "2"]
            self.processes.append(Managed(name, command, replica_env, logs / f"{name}.log"))
        for i in range(1, WORKERS + 1):
            name = f"w{i}"
            command = [KAIROS, "worker", *servers, "--concurrency", "8", "--name", f"chaos-{name}"]
            self.processes.append(Managed(name, command, env, logs / f"{name}.log"))
        for process in self.processes:
            process.start()
        deadline = time.time() + 90
        for process in self.processes:
            while "kairos ready" not in process.log.read_text(errors="replace"):
                if not process.alive or time.time() > deadline:
                    raise RuntimeError(f"{process.name} did not start:\n{process.log_tail()}")
                await asyncio.sleep(0.2)
        say("processes ready: " + ", ".join(p.name for p in self.processes))
        for tenant in TENANTS:
            await self.create_http_jobs(tenant)
            document = self.root / f"{tenant}.yaml"
            document.write_text(json.dumps(self.document()))  # JSON is YAML
            direct = ["--database-url", self.service_dsn]
            done = await asyncio.to_thread(
                subprocess.run,
                # Straight to the database (the harness's own setup, not an operator's
                # change): `kairos apply` goes through the API without the flag.
                [KAIROS, "apply", "-f", str(document), "--tenant", tenant, *direct],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                raise RuntimeError(f"kairos apply failed: {done.stderr}")

    def document(self) -> dict[str, Any]:
        jobs: list[dict[str, Any]] = []
        schedules: list[dict[str, Any]] = []

        def add(name: str, target: dict[str, Any]) -> None:
            period = PERIOD[name.split("-", maxsplit=1)[0]]
            # One job per schedule: no job-wide limit couples the schedules.
            jobs.append({"name": name, "target": target})
            cron = "* * * * * *" if period == 1 else f"*/{period} * * * * *"
            schedules.append(
                {"name": name, "job": name, "trigger": {"type": "CRON", "expression": cron}}
            )

        for i in range(1, EVENT_SCHEDULES + 1):
            add(f"ev-{i:02d}", {"kind": "EVENT", "config": {"subject": f"chaos.ev{i:02d}"}})
        for i in range(1, QUEUE_SCHEDULES + 1):
            add(f"q-{i}", {"kind": "QUEUE", "config": {"queue": f"chaos-q{i}"}})
        for i in range(1, HTTP_SCHEDULES + 1):
            add(f"http-{i}", {})
        # HTTP jobs exist already (create_http_jobs): a file cannot receive their secret.
        return {"jobs": [j for j in jobs if j["target"]], "schedules": schedules}

    def true_clock_api(self) -> list[str]:
        """APIs of replicas on the true clock (a token's ``iat`` lies in the future of
        one running behind)."""
        return [url for name, url in self.api.items() if "faketime" not in name]

    async def create_http_jobs(self, tenant: str) -> None:
        """HTTP jobs through ``POST /jobs``, which answers their signing secret."""
        token = self.keys.mint(tenant, ["scheduler:admin"], ttl=timedelta(hours=1), now=time.time())
        async with httpx.AsyncClient(timeout=10) as client:
            for i in range(1, HTTP_SCHEDULES + 1):
                answer = await client.post(
                    f"{self.true_clock_api()[0]}/jobs",
                    headers={"Authorization": f"Bearer {token}"},
                    json={
                        "name": f"http-{i}",
                        "target": {"kind": "HTTP", "config": {"url": self.receiver.url}},
                    },
                )
                if answer.status_code != 201:
                    raise RuntimeError(f"POST /jobs: {answer.status_code} {answer.text}")

    async def teardown(self) -> None:
        await asyncio.gather(*(asyncio.to_thread(p.stop) for p in self.processes))
        await self.receiver.close()
        self.nats.stop()
        with contextlib.suppress(Exception):
            self.pg.stop()
        if not (self.args.keep or (self.args.keep_failed and not self.passed)):
            shutil.rmtree(self.root, ignore_errors=True)
        else:
            say(f"kept {self.root}")

    # -- background loops -----------------------------------------------------------

    async def supervise(self) -> None:
        """Restart what died: at once what exited by itself (counted), 2 s after a kill
        what the harness killed; never while PostgreSQL or NATS is down (a start then
        would fail for a reason that is not the process's)."""
        while not self.stopping.is_set():
            now = time.time()
            for process in self.processes:
                if process.proc is not None and process.proc.poll() is not None:
                    if not process.killed:
                        process.self_exits.append(
                            {
                                "process": process.name,
                                "at": now,
                                "code": process.proc.returncode,
                                "up_seconds": round(now - process.started_at, 1),
                                "log": process.log_tail(40),
                            }
                        )
                        say(f"{process.name} exited by itself ({process.proc.returncode})")
                        process.restart_at = now
                    process.proc = None
                if (
                    process.proc is None
                    and process.restart_at is not None
                    and now >= process.restart_at
                    and self.pg_up
                    and self.nats_up
                ):
                    process.start()
            await asyncio.sleep(0.2)

    async def monitor(self) -> None:
        """The lease row every 100 ms, and which process logged which epoch."""
        conn: asyncpg.Connection | None = None
        while not self.stopping.is_set():
            at = time.time()
            try:
                if conn is None:
                    conn = await asyncpg.connect(self.owner_dsn, timeout=1)
                row = await conn.fetchrow(
                    "SELECT holder, epoch, expires_at > now() AS live FROM leader_lease "
                    "WHERE name = 'scheduler'",
                    timeout=1,
                )
                self.samples.append(
                    Sample(at, row["holder"], row["epoch"], row["live"])
                    if row
                    else Sample(at, None, None, False)
                )
            except (OSError, asyncpg.PostgresError, TimeoutError, asyncpg.InterfaceError):
                self.samples.append(Sample(at, None, None, None))
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.terminate()
                conn = None
            self.read_logs()
            await asyncio.sleep(0.1)
        if conn is not None:
            await conn.close()

    def read_logs(self) -> None:
        for process in self.processes:
            for line in process.new_log_lines():
                match = LEADERSHIP.search(line)
                if match:
                    process.epochs.add(int(match.group(2)))

    def leader(self) -> tuple[Managed, str, int] | None:
        """The process holding a live lease now, if the logs tell which one it is."""
        self.read_logs()
        for sample in reversed(self.samples[-20:]):
            if sample.live and sample.epoch is not None and sample.holder is not None:
                for process in self.processes:
                    if sample.epoch in process.epochs and process.alive:
                        return process, sample.holder, sample.epoch
                return None
        return None

    # -- faults ---------------------------------------------------------------------

    async def faults_run(self, duration: float) -> None:
        start = time.time()
        # Fractions of the duration, each one clear of the one before (MIN_DURATION).
        freeze_at = 0.2 * duration
        nats_at = max(0.5 * duration, freeze_at + FREEZE + 8)
        pg_at = max(0.7 * duration, nats_at + 10)
        plan: list[tuple[float, str, Callable[[], Awaitable[None]]]] = [
            (0.08 * duration, "worker kill", self.kill_worker),
            (freeze_at, "leader freeze", self.freeze_leader),
            (nats_at, "nats kill", self.restart_nats),
            (pg_at, "postgres immediate stop", self.restart_postgres),
            (max(0.88 * duration, pg_at + 12), "nats kill", self.restart_nats),
        ]
        # No random kill near a freeze or a database stop: they would blur its figures.
        self.blackouts = [
            (start + freeze_at - 3, start + freeze_at + FREEZE + 10),
            (start + pg_at - 3, start + pg_at + 15),
        ]
        tasks = [asyncio.create_task(self.random_kills(start + duration))]
        for offset, label, action in sorted(plan, key=lambda p: p[0]):
            await asyncio.sleep(max(0.0, start + offset - time.time()))
            say(f"fault: {label}")
            tasks.append(asyncio.create_task(self.guard(label, action)))
        await asyncio.sleep(max(0.0, start + duration - time.time()))
        await asyncio.gather(*tasks)

    async def guard(self, label: str, action: Callable[[], Awaitable[None]]) -> None:
        try:
            await action()
        except Exception as exc:  # a fault that could not be injected is reported
            self.faults.append(f"{label}: not injected ({exc})")
            say(f"{label}: not injected: {exc}")

    async def random_kills(self, until: float) -> None:
        number = 0
        while True:
            await asyncio.sleep(self.rng.uniform(5, 20))
            if time.time() >= until:
                return
            if any(a <= time.time() <= b for a, b in self.blackouts):
                continue
            number += 1
            if number % 2 == 1:
                found = self.leader()
                if found is None:
                    self.faults.append("leader kill: no known leader, skipped")
                    continue
                process, holder, epoch = found
                self.takeovers.append(Takeover("kill", time.time(), process.name, holder, epoch))
            else:
                choices = [p for p in self.replicas() if p.alive and not p.frozen]
                if not choices:
                    continue
                process = self.rng.choice(choices)
                found = self.leader()
                if found is not None and found[0] is process:
                    self.takeovers.append(
                        Takeover("kill", time.time(), process.name, found[1], found[2])
                    )
            say(f"fault: kill -9 {process.name}")
            self.faults.append(f"kill -9 {process.name}")
            if (
                not self.takeovers
                or self.takeovers[-1].process != process.name
                or (time.time() - self.takeovers[-1].at > 1)
            ):
                self.kills.append((time.time(), process.name))
            await asyncio.to_thread(process.kill, RESTART_AFTER)

    def replicas(self) -> list[Managed]:
        return [p for p in self.processes if p.name.startswith("r")]

    async def kill_worker(self) -> None:
        """kill -9 of the ``kairos worker`` holding the most running runs."""
        conn = await asyncpg.connect(self.owner_dsn)
        try:
            for _ in range(300):
                rows = await conn.fetch(
                    "SELECT w.name, count(*) AS n FROM runs r JOIN workers w ON w.id = r.worker_id "
                    "WHERE r.status = 'running' AND w.name LIKE 'chaos-w%' "
                    "GROUP BY w.name ORDER BY n DESC"
                )
                if rows:
                    break
                await asyncio.sleep(0.1)
        finally:
            await conn.close()
        if not rows:
            raise RuntimeError("no kairos worker held a run for 30 s")
        name = rows[0]["name"].removeprefix("chaos-")
        process = next(p for p in self.processes if p.name == name)
        self.faults.append(f"kill -9 {name} holding {rows[0]['n']} running run(s)")
        self.kills.append((time.time(), name))
        await asyncio.to_thread(process.kill, RESTART_AFTER)

    async def freeze_leader(self) -> None:
        found = None
        for _ in range(100):
            found = self.leader()
            if found is not None:
                break
            await asyncio.sleep(0.1)
        if found is None:
            raise RuntimeError("no known leader to freeze")
        process, holder, epoch = found
        process.frozen = True
        process.signal(signal.SIGSTOP)
        self.takeovers.append(Takeover("freeze", time.time(), process.name, holder, epoch))
        self.faults.append(f"SIGSTOP {process.name} (leader, epoch {epoch}) for {FREEZE:.0f} s")
        await asyncio.sleep(FREEZE)
        process.signal(signal.SIGCONT)
        process.frozen = False

    async def restart_nats(self) -> None:
        outage = Outage("nats", time.time())
        self.outages.append(outage)
        self.nats_up = False
        await asyncio.to_thread(self.nats.kill)
        self.faults.append("kill -9 nats-server, restart after 3 s")
        await asyncio.sleep(3)
        await asyncio.to_thread(self.nats.start)
        self.nats_up = True
        outage.end = time.time()

    async def restart_postgres(self) -> None:
        outage = Outage("postgres", time.time())
        self.outages.append(outage)
        self.pg_up = False
        await asyncio.to_thread(self.pg.stop, "immediate")
        self.faults.append("pg_ctl stop -m immediate, start after 4 s")
        await asyncio.sleep(4)
        await asyncio.to_thread(self.pg.start)
        self.pg_up = True
        outage.end = time.time()

    # -- settle ---------------------------------------------------------------------

    async def pause_all(self) -> None:
        """Pause every chaos schedule through the API (a replica on the true clock)."""
        conn = await asyncpg.connect(self.owner_dsn)
        try:
            rows = await conn.fetch(
                "SELECT tenant_id, id FROM schedules WHERE tenant_id = ANY($1) "
                "AND NOT system AND state = 'enabled'",
                list(TENANTS),
            )
        finally:
            await conn.close()
        urls = self.true_clock_api()
        tokens = {
            t: self.keys.mint(t, ["scheduler:operate"], ttl=timedelta(hours=1), now=time.time())
            for t in TENANTS
        }
        async with httpx.AsyncClient(timeout=10) as client:
            for row in rows:
                for attempt in range(30):
                    url = urls[attempt % len(urls)]
                    try:
                        answer = await client.post(
                            f"{url}/schedules/{row['id']}/pause",
                            headers={"Authorization": f"Bearer {tokens[row['tenant_id']]}"},
                        )
                    except httpx.HTTPError:
                        await asyncio.sleep(0.5)
                        continue
                    if answer.status_code == 200:
                        break
                    await asyncio.sleep(0.5)
                else:
                    raise RuntimeError(f"could not pause schedule {row['id']}")

    async def settle(self) -> float:
        """Wait until no run is active and the outbox is empty (or SETTLE seconds)."""
        started = time.time()
        conn = await asyncpg.connect(self.owner_dsn)
        try:
            while time.time() - started < SETTLE:
                active = await conn.fetchval(
                    "SELECT count(*) FROM runs WHERE status = ANY($1)", list(ACTIVE)
                )
                outbox = await conn.fetchval("SELECT count(*) FROM outbox")
                if active == 0 and outbox == 0:
                    break
                await asyncio.sleep(1)
        finally:
            await conn.close()
        await asyncio.sleep(2)  # the relay's last acks
        return time.time() - started

    async def run(self) -> dict[str, Any]:
        await self.setup()
        loops = [
            asyncio.create_task(self.supervise()),
            asyncio.create_task(self.monitor()),
        ]
        try:
            await asyncio.sleep(WARMUP)
            window_start = math.ceil(time.time())
            say(f"faults for {self.args.duration:.0f} s")
            await self.faults_run(self.args.duration)
            say(f"faults over; {QUIET:.0f} s quiet")
            await asyncio.sleep(QUIET)
            window_end = math.floor(time.time()) - 2
            say("pausing schedules, settling")
            await self.pause_all()
            settled = await self.settle()
            self.stopping.set()
            await asyncio.gather(*loops)
            say("reading the database and the streams")
            result = await self.measure(window_start, window_end, settled)
            self.passed = bool(result["ok"])
            result["data"] = str(self.root)
            return result
        finally:
            self.stopping.set()
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            await self.teardown()

    # -- measure --------------------------------------------------------------------

    async def measure(self, start: int, end: int, settled: float) -> dict[str, Any]:
        conn = await asyncpg.connect(self.owner_dsn)
        try:
            fires = await self.check_fires(conn, start, end)
            stuck = await conn.fetch(
                "SELECT r.tenant_id, s.name, r.nominal_at, r.status, r.attempt, r.available_at, "
                "r.lease_until, r.timeout_at, r.updated_at, w.name AS worker "
                f"FROM {RUNS_OF_SCHEDULES} LEFT JOIN workers w ON w.id = r.worker_id "
                "WHERE r.status = ANY($1) ORDER BY r.nominal_at",
                list(ACTIVE),
            )
            succeeded = await conn.fetch(
                "SELECT r.id::text AS id, split_part(s.name, '-', 1) AS kind, r.tenant_id, s.name "
                f"FROM {RUNS_OF_SCHEDULES} "
                "WHERE r.status = 'succeeded' AND r.tenant_id = ANY($1) AND NOT s.system",
                list(TENANTS),
            )
            # The streams first: every event they hold must be in the log read after.
            # Events written in the seconds before (heartbeats go on) may not be relayed yet.
            read_at = datetime.fromtimestamp(time.time() - 5, UTC)
            streams = await self.read_streams()
            log = await conn.fetch(
                "SELECT event_id::text, logged_at < $1 AS due FROM chaos.outbox_log", read_at
            )
            logged = Counter(r["event_id"] for r in log)
            due = {r["event_id"] for r in log if r["due"]}
            created = [
                r["created_at"].timestamp()
                for r in await conn.fetch(
                    "SELECT DISTINCT created_at FROM runs WHERE tenant_id = ANY($1) "
                    "AND origin = 'schedule' ORDER BY created_at",
                    list(TENANTS),
                )
            ]
        finally:
            await conn.close()
        return self.figures(
            fires=fires,
            stuck=stuck,
            succeeded=succeeded,
            logged=logged,
            due=due,
            streams=streams,
            created=created,
            start=start,
            end=end,
            settled=settled,
        )

    def skip_causes(self, skipped_at: list[float]) -> Counter[str]:
        """Each fire skipped by overlap, put down to the fault whose effects it fell in.

        A fault's effects last while it lasts and until the runs it held up are free: a
        lost leader until its successor materialises, plus a pool lease (a killed or
        frozen leader's pool held runs); a killed process for a pool lease; an outage
        until it ends, plus the backoff that follows. A fire in two windows counts once,
        for the first of failover, database, broker, kill; outside all, "other"."""
        slack = POOL_LEASE + 3

        def outages(what: str) -> list[tuple[float, float]]:
            return [(o.start, (o.end or o.start) + 10) for o in self.outages if o.what == what]

        windows: dict[str, list[tuple[float, float]]] = {
            "failover": [
                (t.at, t.at + (FREEZE if t.seconds is None else t.seconds) + slack)
                for t in self.takeovers
            ],
            "database": outages("postgres"),
            "broker": outages("nats"),
            "kill": [(at, at + slack) for at, _ in self.kills],
        }
        causes: Counter[str] = Counter({key: 0 for key in (*windows, "other")})
        for nominal in skipped_at:
            cause = next(
                (k for k, spans in windows.items() if any(a <= nominal <= b for a, b in spans)),
                "other",
            )
            causes[cause] += 1
        return causes

    async def check_fires(self, conn: asyncpg.Connection, start: int, end: int) -> dict[str, Any]:
        """Each schedule's nominal times in [start, end) against its run rows."""
        schedules = await conn.fetch(
            "SELECT tenant_id, id, name FROM schedules WHERE tenant_id = ANY($1) AND NOT system",
            list(TENANTS),
        )
        rows = await conn.fetch(
            "SELECT tenant_id, schedule_id, nominal_at, status, reason, missed_count "
            "FROM runs WHERE tenant_id = ANY($1) AND origin = 'schedule' "
            "AND nominal_at >= $2 AND nominal_at < $3",
            list(TENANTS),
            datetime.fromtimestamp(start - 300, UTC),
            datetime.fromtimestamp(end + 300, UTC),
        )
        by_schedule: dict[tuple[str, Any], dict[float, list[asyncpg.Record]]] = {}
        for row in rows:
            by_schedule.setdefault((row["tenant_id"], row["schedule_id"]), {}).setdefault(
                row["nominal_at"].timestamp(), []
            ).append(row)
        expected = lost = duplicated = 0
        skipped_at: list[float] = []  # nominal times of fires skipped by overlap
        outcomes: Counter[str] = Counter()
        by_kind: dict[str, Counter[str]] = {}
        lost_examples: list[str] = []
        off_rule = 0
        for schedule in schedules:
            kind = schedule["name"].split("-")[0]
            period = PERIOD[kind]
            kind_outcomes = by_kind.setdefault(kind, Counter())
            mine = by_schedule.get((schedule["tenant_id"], schedule["id"]), {})
            times = [t for t in range(start, end) if t % period == 0]
            missing: list[int] = []
            for t in times:
                found = mine.get(float(t), [])
                expected += 1
                kind_outcomes["fires"] += 1
                if len(found) > 1:
                    duplicated += 1
                if not found:
                    missing.append(t)
                    continue
                row = found[0]
                label = row["status"] + (f"/{row['reason']}" if row["status"] == "skipped" else "")
                if label == "skipped/overlap":
                    skipped_at.append(float(t))
                outcomes[label] += 1
                kind_outcomes[label] += 1
            # A missed summary stands for missed_count fires up to its nominal time.
            for nominal, found in mine.items():
                if nominal % period != 0:
                    off_rule += 1
                count = found[0]["missed_count"] or 0
                covered = [t for t in missing if t < nominal][-(count - 1) :] if count > 1 else []
                if covered:
                    missing = [t for t in missing if t not in covered]
                    outcomes["missed (in a summary)"] += len(covered)
            lost += len(missing)
            lost_examples += [
                f"{schedule['tenant_id']}/{schedule['name']}@"
                f"{datetime.fromtimestamp(t, UTC):%H:%M:%S}"
                for t in missing[:3]
            ]
        return {
            "expected": expected,
            "lost": lost,
            "duplicated": duplicated,
            "off_rule": off_rule,
            "outcomes": dict(outcomes),
            "by_kind": {k: dict(v) for k, v in by_kind.items()},
            "lost_examples": lost_examples[:10],
            "skipped_at": skipped_at,
        }

    async def read_streams(self) -> dict[str, Counter[str]]:
        """Every stored message's ``Nats-Msg-Id``, per stream."""
        nc = await nats.connect(self.nats.url)
        try:
            js = nc.jetstream()
            names = ["KAIROS_EVENTS", "KAIROS_INBOUND", *(f"KAIROS_Q_{t}" for t in TENANTS)]
            found: dict[str, Counter[str]] = {}
            for name in names:
                try:
                    info = await js.stream_info(name)
                except NotFoundError:
                    found[name] = Counter()
                    continue
                total = info.state.messages
                consumer = await js.add_consumer(
                    name,
                    ConsumerConfig(
                        deliver_policy=DeliverPolicy.ALL,
                        # A work-queue stream takes explicit-ack consumers only; nothing is
                        # acked, so nothing is removed.
                        ack_policy=AckPolicy.EXPLICIT,
                        ack_wait=3600,
                        max_ack_pending=-1,
                        inactive_threshold=120,
                    ),
                )
                sub = await js.pull_subscribe_bind(consumer=consumer.name, stream=name)
                ids: Counter[str] = Counter()
                seen = 0
                while seen < total:
                    try:
                        batch = await sub.fetch(1000, timeout=5)
                    except TimeoutError:
                        break
                    for msg in batch:
                        seen += 1
                        ids[(msg.headers or {}).get("Nats-Msg-Id", "")] += 1
                await sub.unsubscribe()
                found[name] = ids
            return found
        finally:
            await nc.close()

    def figures(
        self,
        *,
        fires: dict[str, Any],
        stuck: list[asyncpg.Record],
        succeeded: list[asyncpg.Record],
        logged: Counter[str],
        due: set[str],
        streams: dict[str, Counter[str]],
        created: list[float],
        start: int,
        end: int,
        settled: float,
    ) -> dict[str, Any]:
        lost_messages = duplicated_messages = 0
        lost_http = redelivered_http = 0
        delivered = Counter[str]()
        missing: list[str] = []
        for run in succeeded:
            kind = run["kind"]
            if kind == "http":
                n = self.receiver.deliveries.get(run["id"], 0)
                lost_http += n == 0
                redelivered_http += n > 1
                continue
            stream = "KAIROS_INBOUND" if kind == "ev" else f"KAIROS_Q_{run['tenant_id']}"
            n = streams[stream].get(run["id"], 0)
            delivered[kind] += 1
            lost_messages += n == 0
            duplicated_messages += n > 1
            if n == 0:
                missing.append(f"{run['tenant_id']}/{run['name']} run {run['id']}")
        events = streams["KAIROS_EVENTS"]
        lost_events = sum(1 for event in due if events.get(event, 0) == 0)
        duplicated_events = sum(1 for event in logged if events.get(event, 0) > 1)
        rewritten_events = sum(1 for count in logged.values() if count > 1)
        unknown_events = sum(1 for event in events if event not in logged)

        # Takeovers: the first materialisation once a lease with a newer epoch was seen.
        for takeover in self.takeovers:
            for sample in self.samples:
                if (
                    sample.at > takeover.at
                    and sample.live
                    and sample.epoch is not None
                    and sample.epoch > takeover.epoch
                ):
                    takeover.new_epoch_seen = sample.at
                    break
            if takeover.new_epoch_seen is not None:
                # The sample lags the acquisition by up to one poll.
                since = max(takeover.at, takeover.new_epoch_seen - 0.25)
                takeover.materialised = next((c for c in created if c > since), None)
        kills = [t.seconds for t in self.takeovers if t.kind == "kill"]
        freezes = [t.seconds for t in self.takeovers if t.kind == "freeze"]
        kill_median = (
            statistics.median([math.inf if s is None else s for s in kills]) if kills else None
        )
        freeze_worst = max(math.inf if s is None else s for s in freezes) if freezes else None

        leaderless = db_down = 0.0
        for before, after in itertools.pairwise(self.samples):
            if not start <= before.at < end:
                continue
            step = after.at - before.at
            if before.live is None:
                db_down += step
            elif not before.live:
                leaderless += step
        gaps = [b - a for a, b in itertools.pairwise(created) if start <= a < end]
        idle = sum(gap - 1.0 for gap in gaps if gap > 1.5)

        window = fires["expected"] or 1
        overlap = fires["outcomes"].get("skipped/overlap", 0)
        causes = self.skip_causes(fires["skipped_at"])
        # The target is the 10-minute profile's. A shorter run packs the same one-off
        # faults (the 35 s freeze above all) into less time, so their skips are a larger
        # share of its fires: under 10 minutes the guard is 10 % (docs/chaos.md).
        skip_limit = 0.05 if self.args.duration >= 600 else 0.10
        self_exits = [e for p in self.processes for e in p.self_exits]
        limit = TTL + 2
        checks: list[tuple[str, Any, str, bool]] = [
            ("fires expected in the window", fires["expected"], "", True),
            ("fires lost (no run row)", fires["lost"], "0", fires["lost"] == 0),
            ("fires duplicated (>1 row)", fires["duplicated"], "0", fires["duplicated"] == 0),
            ("run rows off the rule", fires["off_rule"], "0", fires["off_rule"] == 0),
            ("runs stuck after settle", len(stuck), "0", not stuck),
            (
                "succeeded EVENT/QUEUE runs",
                f"{delivered['ev']}/{delivered['q']}",
                "",
                True,
            ),
            ("  messages missing from streams", lost_messages, "0", lost_messages == 0),
            (
                "  messages stored more than once",
                duplicated_messages,
                "0",
                duplicated_messages == 0,
            ),
            ("succeeded HTTP runs not received", lost_http, "0", lost_http == 0),
            ("HTTP runs received twice (at least once: allowed)", redelivered_http, "", True),
            ("outbox events", len(logged), "", True),
            ("  events missing from KAIROS_EVENTS", lost_events, "0", lost_events == 0),
            ("  events in KAIROS_EVENTS twice", duplicated_events, "0", duplicated_events == 0),
            ("  event ids written twice", rewritten_events, "0", rewritten_events == 0),
            ("  stream events not from the outbox", unknown_events, "0", unknown_events == 0),
            ("processes exited by themselves", len(self_exits), "0", not self_exits),
            (
                "failover after leader kill -9 (median s)",
                _seconds(kill_median),
                "<= 3",
                kill_median is not None and kill_median <= 3,
            ),
            ("  leader kills, fastest-slowest (s)", _spread(kills), "", True),
            (
                "takeover after freeze (s)",
                _seconds(freeze_worst),
                f"<= {limit:.0f}",
                freeze_worst is not None and freeze_worst <= limit,
            ),
            (
                "fires skipped by overlap (all causes)",
                f"{overlap} ({overlap / window:.1%})",
                "",
                True,
            ),
            (
                "  after a leader failover",
                f"{causes['failover']} ({causes['failover'] / window:.1%})",
                f"< {skip_limit:.0%}",
                causes["failover"] / window < skip_limit,
            ),
            *(
                (f"  {label}", f"{causes[key]} ({causes[key] / window:.1%})", "", True)
                for key, label in (
                    ("kill", "after a replica or worker kill"),
                    ("broker", "during a NATS outage"),
                    ("database", "during a PostgreSQL outage"),
                    ("other", "at no fault"),
                )
            ),
            ("leaderless seconds (no live lease)", f"{leaderless:.1f}", "", True),
            ("seconds without materialisation", f"{idle:.1f}", "", True),
            ("database unreachable (s)", f"{db_down:.1f}", "", True),
        ]
        return {
            "ok": all(ok for _, _, _, ok in checks),
            "checks": [
                {"figure": name, "value": value, "target": target, "ok": ok}
                for name, value, target, ok in checks
            ],
            "window": {"start": start, "end": end, "seconds": end - start},
            "settle_seconds": round(settled, 1),
            "outcomes": fires["outcomes"],
            "by_kind": fires["by_kind"],
            "lost_examples": fires["lost_examples"],
            "stuck": [
                f"{r['tenant_id']}/{r['name']}@{r['nominal_at']:%H:%M:%S} {r['status']}"
                f" attempt {r['attempt']} worker {r['worker']}"
                f" lease_until {_clock(r['lease_until'])}"
                f" timeout_at {_clock(r['timeout_at'])} updated {_clock(r['updated_at'])}"
                for r in stuck[:10]
            ],
            "missing_messages": missing[:20],
            "self_exits": self_exits,
            "takeovers": [
                {
                    "kind": t.kind,
                    "process": t.process,
                    "epoch": t.epoch,
                    "new_epoch_after": None
                    if t.new_epoch_seen is None
                    else round(t.new_epoch_seen - t.at, 2),
                    "materialised_after": None if t.seconds is None else round(t.seconds, 2),
                }
                for t in self.takeovers
            ],
            "faults": self.faults,
            "faketime": self.faketime is not None,
            "restarts": {p.name: p.starts - 1 for p in self.processes},
        }


def _spread(values: list[float | None]) -> str:
    if not values:
        return "none"
    known = sorted(math.inf if v is None else v for v in values)
    return f"{len(values)}: {_seconds(known[0])}-{_seconds(known[-1])}"


def _clock(value: datetime | None) -> str:
    return "-" if value is None else f"{value:%H:%M:%S}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "n/a"
    return "never" if math.isinf(value) else f"{value:.1f}"


def _verdict(check: dict[str, Any]) -> str:
    if not check["target"]:
        return ""  # a figure, not a check
    return "ok" if check["ok"] else "FAIL"


def cause(log: str) -> str:
    """The last exception line of a traceback (inside an exception group's frame too)."""
    for line in reversed(log.splitlines()):
        text = line.strip(" |+-")
        if EXCEPTION_LINE.match(text):
            return text
    return log.splitlines()[-1] if log else ""


def table(result: dict[str, Any]) -> str:
    rows = [(c["figure"], str(c["value"]), c["target"], _verdict(c)) for c in result["checks"]]
    header = ("figure", "value", "target", "")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    lines.append(
        f"window {result['window']['seconds']} s, settled in {result['settle_seconds']} s, "
        f"faketime replica: {'yes' if result['faketime'] else 'no (faketime not installed)'}"
    )
    kills = sum(1 for fault in result["faults"] if re.fullmatch(r"kill -9 r\S+", fault))
    others = [f for f in result["faults"] if not re.fullmatch(r"kill -9 r\S+", f)]
    lines.append(f"faults: {kills} replica kills; " + "; ".join(others))
    for exit_ in result["self_exits"]:
        lines.append(
            f"self-exit: {exit_['process']} code {exit_['code']} after "
            f"{exit_['up_seconds']} s: {cause(exit_['log'])[:160]}"
        )
    outcomes = sorted(result["outcomes"].items())
    lines.append("fire outcomes: " + ", ".join(f"{k} {v}" for k, v in outcomes))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600, help="fault phase, seconds (>= 100)")
    parser.add_argument("--seed", type=int, default=None, help="random faults' seed")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--keep", action="store_true", help="keep the data and logs folder")
    parser.add_argument("--keep-failed", action="store_true", help="keep it when a check fails")
    args = parser.parse_args()
    if args.duration < MIN_DURATION:
        parser.error(f"--duration must be at least {MIN_DURATION:.0f} s (the freeze is 35 s)")
    if args.seed is None:
        args.seed = random.randrange(1 << 30)
    say(f"seed {args.seed}")
    try:
        result = asyncio.run(Chaos(args).run())
    except Exception:
        traceback.print_exc()
        return 2
    result["seed"] = args.seed
    print(table(result), flush=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

"""The example service (``examples/reports_worker.py``, built on the worker SDK) against
a real ``kairos serve`` on the real servers: runs complete, a SIGTERM drains with
nothing lost, a SIGKILLed worker's run is re-claimed by another after its lease, a
cancel reaches the handler, and ``Retry`` is honoured."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.auth.tokens import DEV_AUDIENCE, DEV_ISSUER, DevKeys
from adapters.embedded.nats import EmbeddedNats
from tests.servers import app_dsn

ROOT = Path(__file__).resolve().parents[2]
KAIROS = shutil.which("kairos", path=str(Path(sys.executable).parent))
EXAMPLE = ROOT / "examples" / "reports_worker.py"


@dataclass
class Kairos:
    url: str
    out: Path
    keys: DevKeys

    def token(self, *scopes: str) -> str:
        return self.keys.mint("acme", scopes, ttl=timedelta(hours=1), now=time.time())

    def worker(self, name: str, **env: str) -> subprocess.Popen[str]:
        settings = {
            "KAIROS_API_URL": self.url,
            "KAIROS_TOKEN": self.token("scheduler:operate"),
            "WORKER_NAME": name,
            "REPORTS_OUT": str(self.out),
            "WORKER_HEARTBEAT": "1",
            **env,
        }
        process = subprocess.Popen(
            [sys.executable, str(EXAMPLE)],
            env={**os.environ, **settings},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert process.stdout is not None
        assert "starting" in process.stdout.readline()
        return process

    def lines(self, kind: str) -> list[list[str]]:
        if not self.out.exists():
            return []
        return [
            line.split()[1:] for line in self.out.read_text().splitlines() if line.startswith(kind)
        ]

    async def until_started(self, count: int) -> None:
        """Wait until ``count`` handlers have written their start line."""
        deadline = time.monotonic() + 30
        while len(self.lines("start")) < count:  # another process writes the file
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)


@pytest.fixture
def kairos(database: str, nats_server: EmbeddedNats) -> Iterator[Kairos]:
    assert KAIROS is not None
    folder = Path(tempfile.mkdtemp(prefix="kairos-workers-"))
    keys = DevKeys(folder / "auth").ensure()
    auth = {
        "KAIROS_AUTH_JWKS_FILE": str(keys.jwks_file),
        "KAIROS_AUTH_ISSUER": DEV_ISSUER,
        "KAIROS_AUTH_AUDIENCE": DEV_AUDIENCE,
    }
    process = subprocess.Popen(
        [
            KAIROS,
            "serve",
            "--database-url",
            app_dsn(database, "kairos_scheduler"),
            "--nats-url",
            nats_server.url,
            "--api-port",
            "0",
            "--workers",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=folder,
        env={**os.environ, **auth},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("kairos ready: api http://"), process.stderr.read()  # type: ignore[union-attr]
        yield Kairos(line.split()[3].rstrip(","), folder / "reports.out", keys)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.asynccontextmanager
async def client(k: Kairos) -> AsyncIterator[httpx.AsyncClient]:
    token = k.token("scheduler:admin")
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=k.url, headers=headers, timeout=30) as api:
        yield api


async def reports_schedule(api: httpx.AsyncClient) -> str:
    job = await api.post(
        "/jobs",
        json={
            "name": "reports",
            "target": {"kind": "WORKER", "config": {"type": "reports.generate"}},
            "max_attempts": 3,
            "backoff": {"kind": "fixed", "initial": "PT0.1S"},
        },
    )
    assert job.status_code == 201, job.text
    schedule = await api.post(
        "/schedules",
        json={
            "name": "reports-nightly",
            "job_id": job.json()["id"],
            "trigger": {"type": "CRON", "expression": "0 3 * * *"},
            "overlap_policy": "allow",
        },
    )
    assert schedule.status_code == 201, schedule.text
    return str(schedule.json()["id"])


async def trigger(api: httpx.AsyncClient, schedule_id: str, **payload: Any) -> str:
    r = await api.post(f"/schedules/{schedule_id}/trigger", json={"payload": payload})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def wait_for(
    api: httpx.AsyncClient, run_ids: list[str], *statuses: str
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 40
    while True:
        runs = [(await api.get(f"/runs/{run_id}")).json() for run_id in run_ids]
        if all(run["status"] in statuses for run in runs):
            return runs
        assert time.monotonic() < deadline, [(r["id"], r["status"]) for r in runs]
        await asyncio.sleep(0.1)


def stop(process: subprocess.Popen[str], sig: int = signal.SIGTERM) -> int:
    process.send_signal(sig)
    return process.wait(timeout=60)


async def test_the_example_completes_runs_and_honours_retry(kairos: Kairos) -> None:
    """Ten runs succeed once each; a Retry(after=1) is retried no sooner than 1 s."""
    async with client(kairos) as api:
        schedule = await reports_schedule(api)
        worker = kairos.worker("w1")
        try:
            ids = [await trigger(api, schedule, n=i) for i in range(10)]
            busy = await trigger(api, schedule, busy_first=1)
            done = await wait_for(api, [*ids, busy], "succeeded")
        finally:
            assert stop(worker) == 0
        assert [run["attempt"] for run in done[:10]] == [1] * 10
        assert sorted(line[0] for line in kairos.lines("done")) == sorted([*ids, busy])
        retried = (await api.get(f"/runs/{busy}")).json()["attempts"]
        assert [a["outcome"] for a in retried] == ["failed", "succeeded"]
        assert retried[0]["error"] == "report store busy"
        gap = _seconds(retried[1]["started_at"]) - _seconds(retried[0]["ended_at"])
        assert gap >= 1.0
        workers = (await api.get("/workers")).json()["items"]
        assert [(w["name"], w["state"], w["capabilities"]) for w in workers] == [
            ("w1", "offline", ["reports.generate"])
        ]


async def test_a_served_replica_is_ready_and_says_why(kairos: Kairos) -> None:
    """/health/ready of a real `kairos serve`: every check passes, the leader is named,
    without credentials; the API itself still wants a token."""
    async with httpx.AsyncClient(base_url=kairos.url, timeout=10) as bare:
        r = await bare.get("/health/ready")
        assert r.status_code == 200, r.text
        checks = r.json()["checks"]
        assert all(c["ok"] for c in checks.values())
        assert checks["leader"]["epoch"] >= 1
        # One replica alone leads every partition.
        partitions = checks["leader"]["partitions"]
        assert (partitions["count"], partitions["unleased"]) == (64, [])
        ((_, held),) = partitions["replicas"].items()
        assert sorted(map(int, held)) == list(range(64))
        assert (await bare.get("/runs")).status_code == 401


def metric(text: str, name: str) -> float:
    """The sum of a metric's samples in Prometheus exposition text."""
    total, found = 0.0, False
    for line in text.splitlines():
        if line.startswith(name) and line[len(name)] in " {":
            total += float(line.rsplit(" ", 1)[1])
            found = True
    assert found, f"{name} not exposed"
    return total


async def test_metrics_move_with_fires_and_runs(kairos: Kairos) -> None:
    """/metrics after an every-second schedule ran through an SDK worker: fires, started
    runs with their lateness, succeeded events, the leader and the queue are exposed."""
    async with client(kairos) as api:
        before = (await api.get("/metrics")).text
        assert metric(before, "kairos_fires_total") == 0
        schedule = await reports_schedule(api)
        worker = kairos.worker("w1")
        try:
            r = await api.patch(
                f"/schedules/{schedule}",
                json={"trigger": {"type": "CRON", "expression": "* * * * * *"}},
            )
            assert r.status_code == 200, r.text
            deadline = time.monotonic() + 30
            while True:  # until two runs have succeeded and their events are relayed
                text = (await api.get("/metrics")).text
                done = 'kairos_events_published_total{type="scheduler.run.succeeded"}'
                if done in text and metric(text, done) >= 2:
                    break
                assert time.monotonic() < deadline
                await asyncio.sleep(0.2)
        finally:
            stop(worker)
        assert metric(text, "kairos_fires_total") >= 2
        assert metric(text, "kairos_runs_claimed_total") >= 2
        assert metric(text, "kairos_fire_lateness_seconds_count") >= 2
        assert metric(text, "kairos_leader") == 1
        assert metric(text, "kairos_leader_known") == 1
        assert metric(text, "kairos_partitions_led") == 64
        assert metric(text, "kairos_partitions_unleased") == 0
        assert "kairos_outbox_lag_seconds" in text


async def test_sigterm_drains_with_nothing_lost(kairos: Kairos) -> None:
    """SIGTERM while 3 runs are mid-handler: they finish, succeed on attempt 1, exit 0."""
    async with client(kairos) as api:
        schedule = await reports_schedule(api)
        worker = kairos.worker("w1", WORKER_CONCURRENCY="3")
        ids = [await trigger(api, schedule, seconds=2) for _ in range(3)]
        await wait_for(api, ids, "running")
        await kairos.until_started(3)
        assert await asyncio.to_thread(stop, worker) == 0
        runs = await wait_for(api, ids, "succeeded")
        assert [run["attempt"] for run in runs] == [1, 1, 1]
        assert sorted(line[0] for line in kairos.lines("done")) == sorted(ids)
        assert kairos.lines("cancelled") == []


async def test_a_killed_workers_run_is_reclaimed_by_another_after_its_lease(
    kairos: Kairos,
) -> None:
    """SIGKILL mid-run: after the 5 s lease the run goes to the second worker, which
    completes it as attempt 2; attempt 1 ended lease_expired on the first worker, which
    the leader marked offline for its missed heartbeats."""
    async with client(kairos) as api:
        schedule = await reports_schedule(api)
        first = kairos.worker("doomed", WORKER_LEASE="5")
        run_id = await trigger(api, schedule, seconds=1)
        await wait_for(api, [run_id], "running")
        await kairos.until_started(1)
        first.kill()
        first.wait()
        second = kairos.worker("survivor", WORKER_LEASE="5")
        try:
            (run,) = await wait_for(api, [run_id], "succeeded")
        finally:
            stop(second)
        attempts = (await api.get(f"/runs/{run_id}")).json()["attempts"]
        assert [a["outcome"] for a in attempts] == ["lease_expired", "succeeded"]
        workers = {w["id"]: w for w in (await api.get("/workers")).json()["items"]}
        assert [workers[a["worker_id"]]["name"] for a in attempts] == ["doomed", "survivor"]
        assert run["attempt"] == 2
        # silent for more than 3 heartbeats (1 s each) while its lease ran out: offline
        assert workers[attempts[0]["worker_id"]]["state"] == "offline"


async def test_a_cancel_reaches_the_handler_and_ends_the_run_cancelled(kairos: Kairos) -> None:
    """POST /runs/{id}/cancel on a running run: 202, the handler sees CancelledError at
    the next heartbeat, the run ends cancelled with one cancelled attempt."""
    async with client(kairos) as api:
        schedule = await reports_schedule(api)
        worker = kairos.worker("w1")
        try:
            run_id = await trigger(api, schedule, seconds=60)
            await wait_for(api, [run_id], "running")
            r = await api.post(f"/runs/{run_id}/cancel")
            assert (r.status_code, r.json()["cancel_requested"]) == (202, "cancelled by request")
            (run,) = await wait_for(api, [run_id], "cancelled")
        finally:
            stop(worker)
        assert kairos.lines("cancelled") == [[run_id, "1", str(worker.pid)]]
        attempts = (await api.get(f"/runs/{run_id}")).json()["attempts"]
        assert [a["outcome"] for a in attempts] == ["cancelled"]
        assert run["reason"] == "cancelled by request"


def _seconds(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()

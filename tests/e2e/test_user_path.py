"""A new user's path on the embedded stack: dev up, apply a file, watch events, ask the API."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import asyncpg
import httpx

KAIROS = shutil.which("kairos", path=str(Path(sys.executable).parent))
SCHEDULES = """
jobs:
  - name: ping
    target: {kind: EVENT, config: {subject: demo.ping}}
schedules:
  - name: every-second
    job: ping
    trigger: {type: CRON, expression: "* * * * * *"}
    payload: {hello: world}
"""


def kairos(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    assert KAIROS is not None
    return subprocess.run(
        [KAIROS, *args], capture_output=True, text=True, timeout=timeout, check=False, env=env
    )


def sessions(dsn: str) -> set[tuple[str, str]]:
    """(user, application_name) of Kairos' database sessions now."""

    async def ask() -> set[tuple[str, str]]:
        conn = await asyncpg.connect(dsn)
        try:
            rows = await conn.fetch(
                "SELECT usename, application_name FROM pg_stat_activity "
                "WHERE application_name LIKE 'kairos-%'"
            )
        finally:
            await conn.close()
        return {(r["usename"], r["application_name"]) for r in rows}

    return asyncio.run(ask())


def test_dev_apply_events_and_api() -> None:
    """Schedules applied to `kairos dev` fire; their events and runs are visible."""
    assert KAIROS is not None
    data = Path(tempfile.mkdtemp(prefix="kairos-path-"))
    data.chmod(0o755)
    process = subprocess.Popen(
        [KAIROS, "dev", "--data", str(data / ".kairos"), "--api-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("kairos ready: api http://127.0.0.1:")
        recorded = dict(
            line.split("=", 1) for line in (data / ".kairos" / "env").read_text().splitlines()
        )
        env = {**os.environ, **recorded}
        (data / "schedules.yaml").write_text(SCHEDULES)
        dev_data = ("--data", str(data / ".kairos"))
        first = kairos(
            "apply", "-f", str(data / "schedules.yaml"), "--tenant", "acme", *dev_data, env=env
        )
        assert first.stdout.splitlines() == ["job ping: created", "schedule every-second: created"]
        again = kairos(
            "apply", "-f", str(data / "schedules.yaml"), "--tenant", "acme", *dev_data, env=env
        )
        assert again.stdout.splitlines() == [
            "job ping: unchanged",
            "schedule every-second: unchanged",
        ]
        # created (every-second, and the tenant's system.retention), then run events
        tail = kairos("events", "tail", "--tenant", "acme", "--count", "6", env=env, timeout=30)
        assert tail.returncode == 0, tail.stderr
        types = [line.split()[1] for line in tail.stdout.splitlines()]
        # an EVENT job's fires go the instant path: run.succeeded, no run.started
        assert "scheduler.run.succeeded" in types
        assert "scheduler.run.started" not in types
        api = f"{recorded['KAIROS_API_URL']}/runs?status=succeeded"
        assert httpx.get(api).status_code == 401  # auth is on, like production
        token = kairos(
            "token",
            "--data",
            str(data / ".kairos"),
            "--tenant",
            "acme",
            "--scope",
            "scheduler:read",
            env=env,
        )
        assert token.returncode == 0, token.stderr
        bearer = {"Authorization": f"Bearer {token.stdout.strip()}"}
        runs = httpx.get(api, headers=bearer).json()["items"]
        assert runs
        assert runs[0]["payload"] == {"hello": "world"}
        # The API's sessions are kairos_app's (tenant transactions only); the loops'
        # are kairos_scheduler's.
        assert sessions(recorded["KAIROS_DATABASE_URL"]) >= {
            ("kairos_app", "kairos-api"),
            ("kairos_scheduler", "kairos-scheduler"),
        }
        bad = kairos(
            "apply", "-f", str(data / "missing.yaml"), "--tenant", "acme", *dev_data, env=env
        )
        assert bad.returncode == 2
        assert len(bad.stderr.strip().splitlines()) == 1
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        shutil.rmtree(data, ignore_errors=True)

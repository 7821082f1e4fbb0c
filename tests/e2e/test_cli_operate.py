"""Operating `kairos dev` from the terminal by name, as a user would: every command run
as `kairos ...` next to the stack's ./.kairos, each checked against the API's JSON."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from adapters.clock import SystemClock

KAIROS = shutil.which("kairos", path=str(Path(sys.executable).parent))
FILE = """
jobs:
  - name: ping
    target: {kind: EVENT, config: {subject: demo.ping}}
  - name: waits
    target: {kind: WORKER, config: {type: nobody.serves.this}}
schedules:
  - name: nightly
    job: ping
    trigger: {type: CRON, expression: "0 3 * * *"}
    timezone: Europe/Berlin
  - name: parked
    job: waits
    trigger: {type: CRON, expression: "0 0 1 1 *"}
  - name: on-order
    job: ping
    trigger: {type: EVENT, subject: "orders.*"}
"""


def until(check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    """The first truthy answer of ``check`` within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def test_operate_dev_stack_by_name() -> None:
    """apply, get, describe, trigger, pause, resume, backfill, retry a dead run, cancel,
    events publish and delete through the CLI agree with the API; with the stack
    stopped, one line and exit 1."""
    assert KAIROS is not None
    folder = Path(tempfile.mkdtemp(prefix="kairos-cli-"))
    folder.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAIROS_")}
    env["KAIROS_TENANT"] = "acme"
    dev = subprocess.Popen(
        [KAIROS, "dev", "--api-port", "0"],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def kairos(*args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        assert KAIROS is not None
        done = subprocess.run(
            [KAIROS, *args],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == code, (args, done.stdout, done.stderr)
        return done

    def doc(*args: str) -> Any:
        return json.loads(kairos(*args, "-o", "json").stdout)

    try:
        assert dev.stdout is not None
        assert dev.stdout.readline().startswith("kairos ready: api http://127.0.0.1:")
        recorded = dict(
            line.split("=", 1) for line in (folder / ".kairos" / "env").read_text().splitlines()
        )
        token = kairos("token", "--tenant", "acme", "--scope", "scheduler:admin").stdout.strip()
        api = httpx.Client(
            base_url=recorded["KAIROS_API_URL"], headers={"Authorization": f"Bearer {token}"}
        )

        def answer(path: str, status: int = 200) -> Any:
            response = api.get(path)
            assert response.status_code == status, response.text
            return response.json()

        (folder / "schedules.yaml").write_text(FILE)
        kairos("apply", "-f", "schedules.yaml", "--tenant", "acme")

        # get: the table names them, -o json is the API's list
        table = kairos("get", "schedules").stdout.splitlines()
        assert table[0].split()[:3] == ["NAME", "STATE", "TRIGGER"]
        assert {line.split()[0] for line in table[1:]} >= {"nightly", "parked", "on-order"}
        assert doc("get", "schedules")["items"] == answer("/schedules?limit=500")["items"]
        nightly = doc("get", "schedule", "nightly")
        assert nightly == answer(f"/schedules/{nightly['id']}")
        ping = doc("get", "job", "ping")
        assert ping == answer(f"/jobs/{ping['id']}")

        # describe: the next fires the API plans, the job, the state
        described = kairos("describe", "schedule", "nightly").stdout
        assert "ping (EVENT demo.ping)" in described
        for fire in answer(f"/schedules/{nightly['id']}/next?count=5")["items"]:
            assert fire["local"] in described
        bundle = doc("describe", "schedule", "nightly")
        assert bundle["schedule"] == answer(f"/schedules/{nightly['id']}")

        # trigger: a payload and an idempotency key; the same key answers the same run
        run = doc("trigger", "nightly", "--payload", '{"n": 1}', "--idempotency-key", "k1")
        again = doc("trigger", "nightly", "--idempotency-key", "k1")
        assert again["id"] == run["id"]
        until(lambda: answer(f"/runs/{run['id']}")["status"] == "succeeded", "the run")
        assert answer(f"/runs/{run['id']}")["payload"] == {"n": 1}
        assert doc("get", "run", run["id"])["status"] == "succeeded"

        # pause: with a note the schedule shows until it resumes
        paused = kairos("pause", "nightly", "--note", "maintenance").stdout.strip()
        assert paused.startswith("schedule nightly: paused")
        shown = answer(f"/schedules/{nightly['id']}")
        assert (shown["state"], shown["state_reason"]) == ("paused", "maintenance")
        resumed = doc("resume", "nightly", "--from", "now")
        stored = answer(f"/schedules/{nightly['id']}")
        assert resumed == {k: v for k, v in stored.items() if k != "last_run"}  # reads add it
        assert resumed["state"] == "enabled"
        assert resumed.get("state_reason") is None

        # backfill: two past days of the nightly fire
        now = SystemClock().now()
        start, end = now - timedelta(days=3), now - timedelta(days=1)
        backfill = doc("backfill", "nightly", "--from", start.isoformat(), "--to", end.isoformat())
        assert backfill["planned"] == 2
        assert answer(f"/backfills/{backfill['id']}")["created"] == backfill["created"]

        # retry: an HTTP job that fails at once, so its run is dead after one attempt
        made = api.post(
            "/jobs",
            json={
                "name": "failing",
                # a name that never resolves: every attempt fails, whatever the guard admits
                "target": {"kind": "HTTP", "config": {"url": "http://kairos-e2e.invalid/hook"}},
                "max_attempts": 1,
            },
        )
        assert made.status_code == 201, made.text
        hook = api.post(
            "/schedules",
            json={
                "name": "hook",
                "job_id": made.json()["id"],
                "trigger": {"type": "CRON", "expression": "0 0 1 1 *"},
            },
        )
        assert hook.status_code == 201, hook.text
        kairos("trigger", "hook")
        dead = until(
            lambda: doc("get", "runs", "--schedule", "hook", "--status", "dead")["items"],
            "a dead run",
        )[0]
        assert answer(f"/runs/{dead['id']}")["status"] == "dead"
        retried = doc("retry", dead["id"])
        assert retried["id"] == dead["id"]
        assert retried["status"] != "dead"
        until(lambda: len(answer(f"/runs/{dead['id']}")["attempts"]) == 2, "a second attempt")

        # cancel: a run no worker can take waits pending until cancelled
        waiting = doc("trigger", "parked")
        assert waiting["status"] in ("pending", "scheduled")
        line = kairos("cancel", waiting["id"]).stdout.strip()
        assert line == f"run {waiting['id']}: cancelled"
        assert answer(f"/runs/{waiting['id']}")["status"] == "cancelled"

        # events publish: an EVENT schedule fires on the tenant's subject
        said = kairos("events", "publish", "orders.created", '{"order": 7}', "--tenant", "acme")
        assert said.stdout.startswith("published to t.acme.orders.created (stream KAIROS_INBOUND")
        on_order = doc("get", "schedule", "on-order")
        until(lambda: answer(f"/runs?schedule_id={on_order['id']}")["items"], "the event's run")

        # delete: schedules, calendars and jobs by name; a job in use is refused
        parked = doc("get", "schedule", "parked")
        assert kairos("delete", "schedule", "parked").stdout.strip() == "schedule parked deleted"
        answer(f"/schedules/{parked['id']}", 404)
        calendar = api.post("/calendars", json={"name": "office"})
        assert calendar.status_code == 201, calendar.text
        kairos("delete", "calendar", "office")
        answer(f"/calendars/{calendar.json()['id']}", 404)
        in_use = kairos("delete", "job", "ping", code=1)
        assert "nightly" in in_use.stderr
        answer(f"/jobs/{ping['id']}")
        waits = doc("get", "job", "waits")
        assert kairos("delete", "job", "waits").stdout.strip() == "job waits deleted"
        answer(f"/jobs/{waits['id']}", 404)
        unknown = kairos("describe", "schedule", "parked", code=1)
        assert unknown.stderr.strip() == "kairos describe: error: no schedule named 'parked'"
    finally:
        dev.send_signal(signal.SIGINT)
        try:
            dev.communicate(timeout=60)
        finally:
            if dev.poll() is None:
                dev.kill()
                dev.wait()
    try:
        down = kairos("get", "schedules", code=1)
        assert down.stdout == ""
        assert len(down.stderr.strip().splitlines()) == 1
        assert "the dev stack is not running" in down.stderr
    finally:
        shutil.rmtree(folder, ignore_errors=True)

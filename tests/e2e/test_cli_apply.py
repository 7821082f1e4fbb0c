"""`kairos apply` through the API, as a user runs it next to `kairos dev`: the plan
(--dry-run), the diff with the next fires, HTTP jobs whose secret never sits in the
file, --prune of what apply created, and every change in the audit trail."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

KAIROS = shutil.which("kairos", path=str(Path(sys.executable).parent))
FILE = """
jobs:
  - name: ping
    target: {kind: EVENT, config: {subject: demo.ping}}
    max_attempts: 3
  - name: hook
    target: {kind: HTTP, config: {url: "http://127.0.0.1:9/hook"}}
schedules:
  - name: nightly
    job: ping
    trigger: {type: CRON, expression: "0 2 * * *"}
    timezone: Europe/Berlin
  - name: hourly
    job: hook
    trigger: {type: CRON, expression: "0 * * * *"}
"""


class Stack:
    def __init__(self, folder: Path, env: dict[str, str], api: httpx.Client) -> None:
        self.folder, self.env, self.api = folder, env, api
        self.log = folder / "dev.log"  # the `kairos dev` terminal's stderr

    def kairos(self, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        assert KAIROS is not None
        done = subprocess.run(
            [KAIROS, *args],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == code, (args, done.stdout, done.stderr)
        return done

    def apply(self, text: str, *flags: str, code: int = 0) -> list[str]:
        (self.folder / "schedules.yaml").write_text(text)
        done = self.kairos("apply", "-f", "schedules.yaml", "--tenant", "acme", *flags, code=code)
        return done.stdout.splitlines() if code == 0 else done.stderr.splitlines()

    def names(self, path: str) -> set[str]:
        return {item["name"] for item in self.get(f"{path}?limit=500")["items"]}

    def get(self, path: str) -> Any:
        response = self.api.get(path)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """One `kairos dev` in a fresh folder, and an admin client of its API."""
    assert KAIROS is not None
    folder = Path(tempfile.mkdtemp(prefix="kairos-apply-"))
    folder.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAIROS_")}
    env["KAIROS_TENANT"] = "acme"
    log = (folder / "dev.log").open("w")
    dev = subprocess.Popen(
        [KAIROS, "dev", "--api-port", "0"],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    log.close()
    try:
        assert dev.stdout is not None
        assert dev.stdout.readline().startswith("kairos ready:")
        recorded = dict(
            line.split("=", 1) for line in (folder / ".kairos" / "env").read_text().splitlines()
        )
        probe = Stack(folder, env, httpx.Client())
        token = probe.kairos("token", "--tenant", "acme", "--scope", "scheduler:admin")
        headers = {"Authorization": f"Bearer {token.stdout.strip()}"}
        with httpx.Client(base_url=recorded["KAIROS_API_URL"], headers=headers) as api:
            yield Stack(folder, env, api)
        dev.send_signal(signal.SIGINT)
        dev.communicate(timeout=60)
    finally:
        if dev.poll() is None:
            dev.kill()
            dev.wait()
        shutil.rmtree(folder, ignore_errors=True)


def test_dry_run_prints_the_plan_and_changes_nothing(stack: Stack) -> None:
    """--dry-run: every object 'would be created', and the server has none of them."""
    lines = stack.apply(FILE, "--dry-run")
    assert lines == [
        "job ping: would be created",
        "job hook: would be created",
        "schedule nightly: would be created",
        "schedule hourly: would be created",
    ]
    assert not {"ping", "hook"} & stack.names("/jobs")
    assert not {"nightly", "hourly"} & stack.names("/schedules")


def test_apply_goes_through_the_api_and_keeps_http_secrets_out_of_the_file(
    stack: Stack,
) -> None:
    """Created through the API (each change in /audit, by the CLI's token); the HTTP
    job's secret goes to the 0600 --secrets-out file; a second apply changes nothing."""
    secrets = stack.folder / "secrets.json"
    lines = stack.apply(FILE, "--secrets-out", str(secrets))
    assert lines[:4] == [
        "job ping: created",
        "job hook: created",
        "schedule nightly: created",
        "schedule hourly: created",
    ]
    assert "secrets.json" in lines[4]
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    secret = json.loads(secrets.read_text())["hook"]
    assert secret.startswith("whsec_")
    assert secret not in (stack.folder / "schedules.yaml").read_text()
    assert secret not in "\n".join(lines)
    hook = next(j for j in stack.get("/jobs?limit=500")["items"] if j["name"] == "hook")
    assert len(hook["secrets"]) == 1
    audit = stack.get("/audit?limit=50")["items"]
    writes = [(e["method"], e["path"]) for e in audit]
    assert writes.count(("POST", "/jobs")) >= 2
    assert writes.count(("POST", "/schedules")) >= 2
    assert stack.apply(FILE) == [
        "job ping: unchanged",
        "job hook: unchanged",
        "schedule nightly: unchanged",
        "schedule hourly: unchanged",
    ]


def test_diff_shows_the_fields_and_the_next_fires_before_and_after(stack: Stack) -> None:
    """--diff: the changed field before -> after, and the schedule's next fires now
    (the server's /next) beside those after the change; the change is audited."""
    stack.apply(FILE, "--secrets-out", str(stack.folder / "again.json"))
    nightly = next(s for s in stack.get("/schedules?limit=500")["items"] if s["name"] == "nightly")
    now = [f["dispatch_at"] for f in stack.get(f"/schedules/{nightly['id']}/next?count=5")["items"]]
    changed = FILE.replace('"0 2 * * *"', '"30 3 * * *"').replace(
        "max_attempts: 3", "max_attempts: 5"
    )
    planned = stack.apply(changed, "--diff", "--dry-run")
    assert "job ping: would be updated" in planned
    assert "    max_attempts: 3 -> 5" in planned
    assert "schedule nightly: would be updated" in planned
    text = "\n".join(planned)
    for fire in now:
        assert fire in text
    assert stack.get(f"/schedules/{nightly['id']}")["trigger"]["expression"] == "0 2 * * *"
    done = stack.apply(changed, "--diff")
    assert "schedule nightly: updated" in done
    after = [
        f["dispatch_at"] for f in stack.get(f"/schedules/{nightly['id']}/next?count=5")["items"]
    ]
    for fire in after:
        assert fire in "\n".join(done)  # the local planner agrees with the server's
    audit = stack.get("/audit?limit=50")["items"]
    assert any(e["method"] == "PATCH" and e["path"] == f"/schedules/{nightly['id']}" for e in audit)


def test_a_bad_file_names_the_field_and_writes_nothing(stack: Stack) -> None:
    """One line naming the entry's position and field, exit 2, nothing created."""
    bad = (
        FILE.replace("name: hourly", "name: broken").replace('"0 * * * *"', '"not a cron"')
        + "  - name: fresh\n    job: ping\n    trigger: {type: CRON, expression: '0 5 * * *'}\n"
    )
    errors = stack.apply(bad, code=2)
    assert len(errors) == 1
    assert "schedules[1]" in errors[0]
    assert not {"broken", "fresh"} & stack.names("/schedules")


def test_prune_deletes_only_what_apply_created(stack: Stack) -> None:
    """A schedule dropped from the file is deleted with --prune (its deletion audited);
    one created through the API, not by apply, is left alone."""
    stack.apply(FILE, "--secrets-out", str(stack.folder / "third.json"))
    ping = next(j for j in stack.get("/jobs?limit=500")["items"] if j["name"] == "ping")
    response = stack.api.post(
        "/schedules",
        json={
            "name": "by-hand",
            "job_id": ping["id"],
            "trigger": {"type": "CRON", "expression": "0 6 * * *"},
        },
    )
    assert response.status_code == 201, response.text
    without = FILE.replace(
        '  - name: hourly\n    job: hook\n    trigger: {type: CRON, expression: "0 * * * *"}\n', ""
    )
    assert "hourly" not in without
    lines = stack.apply(without, "--prune")
    assert "schedule hourly: deleted" in lines
    assert not any("by-hand" in line for line in lines)
    names = stack.names("/schedules")
    assert "hourly" not in names
    assert {"by-hand", "nightly"} <= names
    audit = stack.get("/audit?limit=50")["items"]
    assert any(e["method"] == "DELETE" and e["path"].startswith("/schedules/") for e in audit)


def test_apply_with_the_stack_down_is_one_line(stack: Stack) -> None:
    """Next to a folder whose stack is not running: one line saying so, exit 1."""
    other = stack.folder / "elsewhere"
    (other / ".kairos" / "postgres").mkdir(parents=True)
    assert KAIROS is not None
    (other / "schedules.yaml").write_text(FILE)
    done = subprocess.run(
        [KAIROS, "apply", "-f", "schedules.yaml", "--tenant", "acme"],
        cwd=other,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "not running" in lines[0]
    assert "Errno" not in lines[0]


def test_a_failed_delivery_is_a_line_in_the_dev_log(stack: Stack) -> None:
    """The loopback HTTP job was accepted (kairos dev admits loopback); its delivery to
    a closed port fails, and the dev log has one line per failed attempt naming the
    run, the schedule, the job and the reason."""
    stack.apply(FILE, "--secrets-out", str(stack.folder / "fourth.json"))
    run = json.loads(stack.kairos("trigger", "hourly", "-o", "json").stdout)
    deadline = time.monotonic() + 30
    while f"run {run['id']}" not in stack.log.read_text():
        assert time.monotonic() < deadline, stack.log.read_text()[-2000:]
        time.sleep(0.3)
    line = next(row for row in stack.log.read_text().splitlines() if f"run {run['id']}" in row)
    assert "(job hook)" in line
    assert "attempt 1/" in line
    assert "failed:" in line
    assert run["schedule_id"] in line

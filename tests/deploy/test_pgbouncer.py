"""Kairos through PgBouncer in session mode, the pooler mode it supports (the leader
LISTENs on a session and asyncpg prepares statements per connection): a replica whose
pools both go through PgBouncer comes up ready, and a schedule applied through it fires
and its runs succeed."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from adapters.auth.tokens import DevKeys
from adapters.embedded.nats import EmbeddedNats
from adapters.embedded.ports import free_port, wait_for_port
from adapters.embedded.postgres import SUPERUSER, EmbeddedPostgres
from tests.deploy.running import ROOT, api_url, auth_settings, running, wait_ready
from tests.servers import app_dsn

KAIROS = shutil.which("kairos", path=str(Path(sys.executable).parent))
SCHEDULES = """
jobs:
  - name: ping
    target: {kind: EVENT, config: {subject: demo.ping}}
schedules:
  - name: every-second
    job: ping
    trigger: {type: CRON, expression: "* * * * * *"}
"""


# PgBouncer refuses a startup parameter it does not track unless it is listed here, and
# then drops it: session settings a Kairos pool sends at connect never reach the server
# through it (deploy/README.md: set them on the roles instead).
IGNORED = "ignore_startup_parameters = " + ", ".join(
    (
        "extra_float_digits",
        "statement_timeout",
        "lock_timeout",
        "idle_in_transaction_session_timeout",
        "tcp_keepalives_idle",
        "tcp_keepalives_interval",
        "tcp_keepalives_count",
        "tcp_user_timeout",
        "kairos.tzdata",
    )
)


def via(dsn: str, port: int) -> str:
    """The same user and database, through the pooler on ``port``."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{port}"))


@dataclass(frozen=True)
class Pooler:
    port: int
    log: Path


@pytest.fixture
def pgbouncer(postgres: EmbeddedPostgres) -> Iterator[Pooler]:
    """A PgBouncer in session mode in front of the test cluster."""
    binary = subprocess.run(
        [str(ROOT / "scripts" / "ensure-pgbouncer")],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout.strip()
    folder = Path(tempfile.mkdtemp(prefix="kairos-pgbouncer-"))
    port = free_port()
    users = (SUPERUSER, "kairos_scheduler", "kairos_app")
    (folder / "users.txt").write_text("".join(f'"{u}" ""\n' for u in users))
    (folder / "pgbouncer.ini").write_text(
        f"""[databases]
* = host=127.0.0.1 port={postgres.port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {folder}/users.txt
pool_mode = session
max_client_conn = 200
default_pool_size = 60
logfile = {folder}/pgbouncer.log
{IGNORED}
"""
    )
    root = os.geteuid() == 0  # PgBouncer refuses to run as root
    if root:
        shutil.chown(folder, "postgres", "postgres")
    process = subprocess.Popen(
        [binary, str(folder / "pgbouncer.ini")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        user="postgres" if root else None,
        group="postgres" if root else None,
    )
    try:
        wait_for_port(port, 30)
        yield Pooler(port, folder / "pgbouncer.log")
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


async def succeeded(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM runs WHERE status = 'succeeded'"))
    finally:
        await conn.close()


def test_kairos_runs_through_pgbouncer_in_session_mode(
    pgbouncer: Pooler, database: str, nats_server: EmbeddedNats
) -> None:
    """Both pools through PgBouncer: ready, and an every-second schedule applied through
    it has runs that succeed (woken by LISTEN, with prepared statements)."""
    assert KAIROS is not None
    folder = Path(tempfile.mkdtemp(prefix="kairos-pooled-"))
    try:
        keys = DevKeys(folder / "auth").ensure()
        scheduler = via(app_dsn(database, "kairos_scheduler"), pgbouncer.port)
        (folder / "schedules.yaml").write_text(SCHEDULES)
        env = {**os.environ, **auth_settings(keys)}
        applied = subprocess.run(
            # Before any API runs: straight to the database, through the pooler.
            [
                KAIROS,
                "apply",
                "-f",
                "schedules.yaml",
                "--tenant",
                "acme",
                "--database-url",
                scheduler,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=folder,
            env=env,
        )
        assert applied.returncode == 0, applied.stderr
        argv = [KAIROS, "serve", "--database-url", scheduler, "--nats-url", nats_server.url]
        argv += ["--api-database-url", via(app_dsn(database), pgbouncer.port)]
        argv += ["--api-port", "0", "--workers", "2"]
        with running(argv, env=env, cwd=folder) as ready:
            wait_ready(api_url(ready))
            deadline = time.monotonic() + 30
            while asyncio.run(succeeded(database)) < 3:
                assert time.monotonic() < deadline
                time.sleep(0.5)
        logins = pgbouncer.log.read_text()
        assert "user=kairos_scheduler" in logins
        assert "user=kairos_app" in logins
    finally:
        shutil.rmtree(folder, ignore_errors=True)

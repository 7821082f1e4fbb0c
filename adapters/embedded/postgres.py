"""An embedded PostgreSQL cluster under a data folder.

``initdb`` refuses to run as root, so when started by root the cluster belongs to the
``postgres`` system user: the data folder is chowned to it and every server command runs
under its uid. Connections are TCP on 127.0.0.1 with trust auth (the cluster is private
to this machine's loopback), with a superuser ``kairos_admin`` that owns the schema.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from adapters.embedded.ports import free_port, wait_for_port

SUPERUSER = "kairos_admin"
_START_TIMEOUT = 60.0


def find_binaries() -> Path:
    """Directory holding initdb/pg_ctl/postgres (newest major first)."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
        reverse=True,
    )
    for candidate in candidates:
        if all(os.access(Path(candidate, tool), os.X_OK) for tool in ("initdb", "pg_ctl")):
            return Path(candidate)
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).resolve().parent
    raise FileNotFoundError(
        "PostgreSQL server binaries not found: run scripts/ensure-postgres (make install does)"
    )


class EmbeddedPostgres:
    def __init__(self, root: Path, *, port: int | None = None, durable: bool = False) -> None:
        self.root = root.resolve()
        # Off by default: a throwaway cluster need not survive a crash, and fsync costs.
        # The chaos suite crashes it on purpose, so it asks for a crash-safe one.
        self.durable = durable
        self.data = self.root / "pgdata"
        self.log = self.root / "postgres.log"
        self.port = port or free_port()
        self.bin = find_binaries()
        self._as_postgres = os.geteuid() == 0

    @property
    def dsn(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def dsn_for(self, database: str, user: str = SUPERUSER) -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def _demote(self) -> Callable[[], None] | None:
        if not self._as_postgres:
            return None
        entry = pwd.getpwnam("postgres")

        def demote() -> None:
            os.setgid(entry.pw_gid)
            os.setuid(entry.pw_uid)

        return demote

    def _run(self, *args: str) -> None:
        subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            check=True,
            capture_output=True,
            preexec_fn=self._demote(),
            cwd="/",
            # pg_ctl's server in its own session: Ctrl-C in the terminal is for the
            # process that started it, which stops it last.
            start_new_session=True,
        )

    def _own(self, path: Path) -> None:
        if self._as_postgres:
            entry = pwd.getpwnam("postgres")
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def initialised(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def start(self) -> None:
        """initdb on first use (data is kept for the next start), then start and wait."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)
        self._own(self.root)
        if not self.initialised():
            self.data.mkdir(mode=0o700, exist_ok=True)
            self._own(self.data)
            self._run(
                "initdb",
                "-D",
                str(self.data),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            )
        safety = "on" if self.durable else "off"
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
            f"-c fsync={safety} -c synchronous_commit={safety} -c full_page_writes={safety} "
            "-c max_connections=200"
        )
        if not self.log.exists():
            self.log.touch()
        self._own(self.log)
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")
        wait_for_port(self.port, _START_TIMEOUT)

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m mode``: ``fast`` (default), ``smart`` or ``immediate`` (no
        checkpoint: the next start recovers from the WAL, as after a crash)."""
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

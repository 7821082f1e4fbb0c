"""``kairos dev``: the embedded default, its own PostgreSQL and nats-server under a
data folder, migrated, then one scheduler replica with the API until Ctrl-C.

The folder holds, besides the servers' data:

- ``dev.lock``: locked (``flock``) by the running ``kairos dev``, with its pid; a
  second ``kairos dev`` in the same folder finds it held and says so.
- ``env``: the running stack's URLs, for ``kairos apply``, ``events tail``,
  ``worker`` and the operator commands started from the same folder. Read only while
  the lock is held (``read_dev_env``): a stack that stopped is "not running", not a
  connection refused.
- ``ports.json``: the ports of the last start, reused when they are free, so the URLs
  stay the same from one start to the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import fcntl
import json
import logging
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from adapters.auth.tokens import DevKeys
from adapters.embedded.nats import EmbeddedNats
from adapters.embedded.ports import free_port
from adapters.embedded.postgres import EmbeddedPostgres
from adapters.postgres.migrate import migrate
from adapters.secrets import key_file
from service.runtime.processes import ServeOptions, redact, serve
from service.runtime.wiring import target_options, verifier
from service.settings import Settings

log = logging.getLogger("kairos")

ENV_FILE = "env"
LOCK_FILE = "dev.lock"
PORTS_FILE = "ports.json"
DEFAULT_API_PORT = 8080


class DevError(Exception):
    """What stops ``kairos dev`` before it serves: one line for the terminal."""


class State(enum.Enum):
    RUNNING = "running"
    STOPPED = "stopped"  # the folder holds a stack, not running now
    ABSENT = "absent"  # no stack ever ran here


@dataclass(frozen=True, slots=True)
class Status:
    state: State
    pid: int | None = None
    api_url: str | None = None


def status(root: Path) -> Status:
    """Whether a ``kairos dev`` runs on ``root`` (its lock is held), with its pid and URL."""
    lock = root / LOCK_FILE
    if not lock.exists():
        return Status(State.STOPPED if (root / "postgres").exists() else State.ABSENT)
    try:
        handle = lock.open("r")
    except OSError:
        return Status(State.STOPPED)
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = handle.read().strip()
            pid = int(text) if text.isdigit() else None
            return Status(State.RUNNING, pid, _read_env(root).get("KAIROS_API_URL"))
        fcntl.flock(handle, fcntl.LOCK_UN)
    return Status(State.STOPPED)


def not_running_text(root: Path) -> str:
    """The one line a command prints when it wanted the dev stack of ``root``."""
    if status(root).state is State.STOPPED:
        return f"the dev stack is not running (in {root}): start it with `kairos dev`"
    return f"no dev stack under {root}: start one with `kairos dev`"


def _read_env(root: Path) -> dict[str, str]:
    try:
        lines = (root / ENV_FILE).read_text().splitlines()
    except OSError:
        return {}
    return dict(line.split("=", 1) for line in lines if "=" in line)


def read_dev_env(root: Path) -> dict[str, str]:
    """What the running ``kairos dev`` wrote for the other commands (URLs of its
    servers); empty when none runs on ``root``."""
    if status(root).state is not State.RUNNING:
        return {}
    return _read_env(root)


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """Hold ``root``'s lock for the stack's life; DevError when another holds it."""
    handle: IO[str] = (root / LOCK_FILE).open("a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            found = status(root)
            where = f", api {found.api_url}" if found.api_url else ""
            raise DevError(
                f"kairos dev is already running in {root} (pid {found.pid}{where}); "
                "stop it first (Ctrl-C in its terminal)"
            ) from None
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            (root / ENV_FILE).unlink(missing_ok=True)
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        handle.close()


def port_free(port: int) -> bool:
    """Nothing listens on 127.0.0.1:``port`` (a socket in TIME_WAIT does not count:
    the servers bind with SO_REUSEADDR too)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _remembered(root: Path) -> dict[str, int]:
    try:
        doc = json.loads((root / PORTS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(doc, dict):
        return {}
    return {k: v for k, v in doc.items() if isinstance(v, int) and 0 < v < 65536}


def _port(remembered: int | None) -> int:
    return remembered if remembered is not None and port_free(remembered) else free_port()


def _api_port(requested: int | None, remembered: int | None) -> int:
    """``--api-port`` when given (0: any free port); else 8080, else the last start's,
    else any free port, so a busy 8080 does not stop the stack."""
    if requested is not None:
        return requested
    for candidate in (DEFAULT_API_PORT, remembered):
        if candidate is not None and port_free(candidate):
            return candidate
    return free_port()


def _stop_orphan(folder: Path) -> None:
    """A nats-server left by a ``kairos dev`` that was killed (its pid file): stopped,
    and waited for, so its port can be taken again."""
    pid_file = folder / "nats.pid"
    try:
        pid = int(pid_file.read_text().strip())
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if b"nats-server" not in command or str(folder.resolve()).encode() not in command:
        return
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGTERM)
        log.info("stopped the nats-server (pid %d) a previous kairos dev left", pid)
    for _ in range(100):
        if not Path(f"/proc/{pid}").exists():
            return
        time.sleep(0.05)


def _command() -> str:
    """How the user calls ``kairos`` from here (``make dev`` runs .venv/bin/kairos)."""
    found = shutil.which("kairos")
    own = Path(sys.argv[0])
    if found is not None and Path(found).resolve() == own.resolve():
        return "kairos"
    with contextlib.suppress(ValueError):
        return str(own.resolve().relative_to(Path.cwd()))
    return str(own)


def _hints(root: Path, api_url: str, nats_url: str) -> list[str]:
    kairos = _command()
    here = root.resolve() == (Path.cwd() / ".kairos").resolve()
    data = "" if here else f" --data {shlex.quote(str(root))}"
    return [
        f"  token:   export KAIROS_TOKEN=$({kairos} token{data} --tenant acme "
        "--scope scheduler:admin)",
        f"  ui:      {kairos} ui{data} --tenant acme   (prints a sign-in link)",
        f"  nats:    {nats_url}",
        f"  api:     {api_url}/docs",
        "  webhooks to 127.0.0.1 and ::1 are allowed (kairos dev only)",
    ]


def dev(root: Path, settings: Settings, options: ServeOptions | None = None) -> None:
    """The embedded default: own Postgres and nats-server under ``root``, migrated,
    then one scheduler replica with the API until Ctrl-C; the servers stop with it, in
    order (the API and loops, then NATS, then PostgreSQL), and one line says so. The
    API listens on 8080 unless another port is asked for (0: any free one); a busy 8080
    falls back to the last start's port, else any free one.

    The servers run in their own sessions: Ctrl-C in the terminal reaches this process
    only, which then stops them. DevError when the stack cannot start."""
    root.mkdir(parents=True, exist_ok=True)
    opts = options or ServeOptions()
    requested = None if opts.api_port == DEFAULT_API_PORT else opts.api_port
    # Ctrl-C while starting: the servers that started are stopped all the same.
    with _locked(root), _terminate_as_interrupt(), contextlib.suppress(KeyboardInterrupt):
        _run(root, settings, opts, requested)
    log.info("kairos dev stopped (API, scheduler, NATS and PostgreSQL)")


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM while the servers start (before the serving loop takes the signals) stops
    like Ctrl-C, so no server is left behind."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(root: Path, settings: Settings, options: ServeOptions, api_port: int | None) -> None:
    ports = _remembered(root)
    _stop_orphan(root / "nats")
    postgres = EmbeddedPostgres(root / "postgres", port=ports.get("postgres"))
    server = EmbeddedNats(root / "nats", port=_port(ports.get("nats")))
    api = _api_port(api_port, ports.get("api"))
    first = not postgres.initialised()
    if (postgres.data / "postmaster.pid").exists():  # left by a kairos dev that was killed
        log.info("stopping the PostgreSQL a previous kairos dev left running")
        with contextlib.suppress(subprocess.CalledProcessError):
            postgres.stop("immediate")
    if not port_free(postgres.port):
        postgres.port = free_port()
    log.info("%s PostgreSQL under %s", "initialising" if first else "reusing", postgres.data)
    try:
        postgres.start()
    except subprocess.CalledProcessError as exc:
        why = _last_line(exc)
        raise DevError(f"PostgreSQL did not start: {why} (see {postgres.log})") from None
    try:
        try:
            server.start()
        except (OSError, TimeoutError) as exc:
            raise DevError(f"nats-server did not start: {exc} (see {server.log})") from None
        (server.root / "nats.pid").write_text(f"{server.pid}\n")
        base = target_options(settings, fallback_key=key_file(root))
        # Webhooks to this machine are how an HTTP target is tried locally: only here is
        # loopback admitted (by the API's check of a job and by the guard at delivery).
        targets = dataclasses.replace(base, allow_loopback=True)
        # Auth is on, like production: the folder's own keys unless KAIROS_AUTH_* says
        # otherwise; `kairos token` mints tokens with them.
        auth = verifier(settings) or DevKeys(root / "auth").ensure().verifier()
        opts = dataclasses.replace(options, targets=targets, auth=auth, api_port=api)
        try:
            asyncio.run(migrate(postgres.dsn_for("postgres")))
            dsn = postgres.dsn_for("postgres", "kairos_scheduler")
            api_dsn = postgres.dsn_for("postgres", "kairos_app")
            opts = dataclasses.replace(opts, api_database_url=api_dsn)

            def ready(api_url: str) -> None:
                (root / ENV_FILE).write_text(
                    f"KAIROS_DATABASE_URL={dsn}\nKAIROS_NATS_URL={server.url}\n"
                    f"KAIROS_API_URL={api_url}\n"
                )
                listening = {"postgres": postgres.port, "nats": server.port}
                port = api_url.rpartition(":")[2]
                if port.isdigit():
                    listening["api"] = int(port)
                (root / PORTS_FILE).write_text(json.dumps(listening) + "\n")
                lines = [
                    f"kairos ready: api {api_url}, database {redact(dsn)}, nats {server.url}",
                    *_hints(root, api_url, server.url),
                ]
                print("\n".join(lines), flush=True)

            asyncio.run(
                serve(dsn, server.url, opts, ready_line=False, on_ready=ready, quiet_stop=True)
            )
        finally:
            server.stop()
            (server.root / "nats.pid").unlink(missing_ok=True)
    finally:
        try:
            postgres.stop()
        except subprocess.CalledProcessError as exc:
            log.warning("PostgreSQL did not stop cleanly: %s", _last_line(exc))


def _last_line(exc: subprocess.CalledProcessError) -> str:
    text = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else f"exit status {exc.returncode}"

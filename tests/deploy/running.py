"""What the deploy tests share: the source tree as a build sees it, and a ``kairos serve``
or ``kairos worker`` started from some installation (a virtualenv, an image) and
checked as an operator would: a ready line, the health endpoints, a clean SIGTERM."""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

from adapters.auth.tokens import DEV_AUDIENCE, DEV_ISSUER, DevKeys

ROOT = Path(__file__).resolve().parents[2]
# What the server's wheel is built from; deploy/Containerfile copies the same.
SERVER_SOURCES: tuple[str, ...] = (
    "pyproject.toml",
    "README.md",
    "LICENSE",
    "domain",
    "service",
    "adapters",
    "migrations",
)


def copy_sources(names: Sequence[str], into: Path, root: Path = ROOT) -> Path:
    """A clean copy of ``names`` (no caches, no earlier build output), so a build sees
    only what a fresh checkout holds."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist")
    into.mkdir(parents=True, exist_ok=True)
    for name in names:
        source = root / name
        if source.is_dir():
            shutil.copytree(source, into / name, ignore=ignore)
        else:
            shutil.copy2(source, into / name)
    return into


def auth_settings(keys: DevKeys, jwks_path: str | None = None) -> dict[str, str]:
    """``KAIROS_AUTH_*`` for a server that trusts ``keys`` (``jwks_path``: where the
    server sees the JWKS file, when that is not where the test wrote it)."""
    return {
        "KAIROS_AUTH_JWKS_FILE": jwks_path or str(keys.jwks_file),
        "KAIROS_AUTH_ISSUER": DEV_ISSUER,
        "KAIROS_AUTH_AUDIENCE": DEV_AUDIENCE,
    }


@contextlib.contextmanager
def running(
    argv: Sequence[str], *, env: dict[str, str], cwd: Path, stop: Sequence[str] = ()
) -> Iterator[str]:
    """Start ``argv``; yield its ``kairos ready:`` line; on exit stop it with SIGTERM
    (or by running ``stop``, for a process inside a container) and require exit 0."""
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until ready, or until it exits
        if not line.startswith("kairos ready: "):
            process.kill()
            _, err = process.communicate(timeout=30)
            raise AssertionError(f"{argv[0]} did not come up: {line!r} {err}")
        yield line.removeprefix("kairos ready: ").strip()
        if stop:
            subprocess.run(stop, check=True, capture_output=True, timeout=60)
        else:
            process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def api_url(ready: str) -> str:
    """The API's URL from a serve ready line (``api http://host:port, database ...``)."""
    first = ready.split(",", maxsplit=1)[0]
    assert first.startswith("api http://"), ready
    return first.removeprefix("api ")


def wait_ready(url: str, timeout: float = 60) -> dict[str, Any]:
    """Poll ``/health/ready`` until it answers 200 (a refused connection while the
    server starts counts as not yet); return its checks. ``/health/live`` must answer
    200 whenever the server answers at all."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            live = httpx.get(f"{url}/health/live", timeout=10)
            assert live.status_code == 200, live.text
            ready = httpx.get(f"{url}/health/ready", timeout=10)
        except httpx.ConnectError:
            assert time.monotonic() < deadline, f"nothing listens on {url}"
            time.sleep(0.2)
            continue
        if ready.status_code == 200:
            checks: dict[str, Any] = ready.json()["checks"]
            return checks
        assert time.monotonic() < deadline, ready.text
        time.sleep(0.2)

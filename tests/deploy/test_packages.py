"""The distributions as users install them: the server's wheel in a fresh virtualenv
outside the repository migrates and serves against the real servers; the worker SDK
installs alone, with httpx as its only dependency."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.auth.tokens import DevKeys
from adapters.embedded.nats import EmbeddedNats
from kairos_worker import __version__ as sdk_version
from service._version import __version__
from tests.deploy.running import (
    ROOT,
    SERVER_SOURCES,
    api_url,
    auth_settings,
    copy_sources,
    running,
    wait_ready,
)
from tests.servers import app_dsn

SDK_SOURCES = ("pyproject.toml", "README.md", "LICENSE", "kairos_worker")


def clean_env() -> dict[str, str]:
    """This process's environment without anything pointing into the repository."""
    drop = {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "KAIROS_DATABASE_URL", "KAIROS_NATS_URL"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def sh(*argv: str | Path, cwd: Path, timeout: float = 300) -> str:
    out = subprocess.run(
        [str(a) for a in argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
        env=clean_env(),
    )
    assert out.returncode == 0, f"{argv}: {out.stdout}\n{out.stderr}"
    return out.stdout


def build(sources: Path, into: Path) -> Path:
    """sdist, then the wheel from that sdist (what ``python -m build`` does)."""
    sh(sys.executable, "-m", "build", "--outdir", into, sources, cwd=sources)
    (wheel,) = into.glob("*.whl")
    return wheel


def virtualenv(at: Path, *install: Path) -> Path:
    sh(sys.executable, "-m", "venv", at, cwd=at.parent)
    sh(at / "bin" / "python", "-m", "pip", "install", "--quiet", *install, cwd=at.parent)
    return at


@pytest.fixture(scope="module")
def outside() -> Iterator[Path]:
    """A folder outside the repository (and readable by the test servers' users)."""
    folder = Path(tempfile.mkdtemp(prefix="kairos-wheel-"))
    folder.chmod(0o755)
    assert not folder.is_relative_to(ROOT)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def server_venv(outside: Path) -> Path:
    sources = copy_sources(SERVER_SOURCES, outside / "src")
    wheel = build(sources, outside / "dist")
    assert wheel.name == f"kairos_scheduler-{__version__}-py3-none-any.whl"
    return virtualenv(outside / "server-venv", wheel)


def test_the_installed_wheel_migrates_and_serves(
    server_venv: Path, outside: Path, empty_database: str, nats_server: EmbeddedNats
) -> None:
    """From the wheel alone: its version, every migration it carries applied to an empty
    database, then a replica that comes up ready and stops cleanly on SIGTERM."""
    kairos = server_venv / "bin" / "kairos"
    # Its first line; more lines may follow (the zone rules' version).
    assert sh(kairos, "--version", cwd=outside).splitlines()[0] == f"kairos {__version__}"
    probe = "import adapters; print(adapters.__file__)"
    where = sh(server_venv / "bin" / "python", "-c", probe, cwd=outside)
    assert Path(where.strip()).is_relative_to(server_venv)
    shipped = sorted(int(f.name[:4]) for f in (ROOT / "migrations").glob("[0-9]*.sql"))
    migrated = sh(kairos, "migrate", "--database-url", empty_database, cwd=outside)
    assert migrated.strip() == f"applied {len(shipped)} migration(s): {shipped}"
    keys = DevKeys(outside / "auth").ensure()
    argv = [str(kairos), "serve", "--database-url", app_dsn(empty_database, "kairos_scheduler")]
    argv += ["--nats-url", nats_server.url, "--api-port", "0", "--workers", "0"]
    with running(argv, env={**clean_env(), **auth_settings(keys)}, cwd=outside) as ready:
        checks = wait_ready(api_url(ready))
    assert (checks["migrations"]["ok"], checks["migrations"]["pending"]) == (True, [])


def test_the_worker_sdk_installs_alone(outside: Path) -> None:
    """The SDK's wheel brings httpx and nothing of the server's; it is typed and
    carries its own version."""
    sources = copy_sources(SDK_SOURCES, outside / "sdk-src", root=ROOT / "sdk")
    wheel = build(sources, outside / "sdk-dist")
    venv = virtualenv(outside / "sdk-venv", wheel)
    python = venv / "bin" / "python"
    probe = (
        "import importlib.metadata as m, importlib.util as u, json, pathlib, kairos_worker as k;"
        "print(k.__version__, m.version('kairos-scheduler-worker'));"
        "print(json.dumps(m.requires('kairos-scheduler-worker')));"
        "print((pathlib.Path(k.__file__).parent / 'py.typed').exists());"
        "print([n for n in ('asyncpg', 'fastapi', 'nats', 'domain', 'service') if u.find_spec(n)])"
    )
    version, requires, typed, server = sh(python, "-c", probe, cwd=outside).splitlines()
    assert version == f"{sdk_version} {sdk_version}"
    assert [r.split(">")[0] for r in json.loads(requires)] == ["httpx"]
    assert (typed, server) == ("True", "[]")

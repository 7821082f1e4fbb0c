"""`kairos migrate` as an operator runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

MIGRATIONS = Path(__file__).parents[2] / "migrations"
KAIROS = shutil.which("kairos", path=str(Path(sys.executable).parent))


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    assert KAIROS is not None
    return subprocess.run(
        [KAIROS, *args], capture_output=True, text=True, timeout=60, check=False, env=env
    )


def test_migrate_twice_applies_then_reports_nothing(empty_database: str) -> None:
    """First run applies every file, the second applies nothing; both exit 0."""
    first = run("migrate", "--database-url", empty_database)
    assert first.returncode == 0, first.stderr
    numbers = sorted(int(f.name[:4]) for f in MIGRATIONS.glob("[0-9]*.sql"))
    assert len(numbers) >= 4
    assert first.stdout.strip() == f"applied {len(numbers)} migration(s): {numbers}"
    env = {**os.environ, "KAIROS_DATABASE_URL": empty_database}
    second = run("migrate", env=env)
    assert (second.returncode, second.stdout.strip()) == (0, "applied 0 migration(s)")


def test_migrate_without_a_database_is_a_usage_error() -> None:
    """No URL: exit 2 with one line saying what to give."""
    env = {k: v for k, v in os.environ.items() if k != "KAIROS_DATABASE_URL"}
    out = run("migrate", env=env)
    assert out.returncode == 2
    assert "KAIROS_DATABASE_URL" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_migrate_against_an_unreachable_server_exits_1() -> None:
    """A connection failure is reported on one line, exit 1 (not a traceback)."""
    out = run("migrate", "--database-url", "postgresql://nobody@127.0.0.1:1/none")
    assert out.returncode == 1
    assert out.stderr.startswith("kairos migrate: error:")
    assert "Traceback" not in out.stderr

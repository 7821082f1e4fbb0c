"""`kairos dev` as a user runs it: comes up, stops on Ctrl-C, reuses its data."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

KAIROS = shutil.which("kairos", path=str(Path(sys.executable).parent))


def start_and_interrupt(data: Path) -> tuple[str, str, int]:
    assert KAIROS is not None
    process = subprocess.Popen(
        [KAIROS, "dev", "--data", str(data), "--api-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until ready (or exit)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return line + out, err, process.returncode


def test_dev_comes_up_stops_cleanly_and_reuses_its_data() -> None:
    """First start initialises, prints ready; Ctrl-C exits 0 with servers stopped; the
    second start reuses the cluster."""
    data = Path(tempfile.mkdtemp(prefix="kairos-dev-"))
    data.chmod(0o755)
    try:
        out, err, code = start_and_interrupt(data)
        assert code == 0, err
        assert out.startswith("kairos ready:")
        assert "initialising PostgreSQL" in err
        assert (data / "postgres" / "pgdata" / "PG_VERSION").exists()
        assert not (data / "postgres" / "pgdata" / "postmaster.pid").exists()
        out, err, code = start_and_interrupt(data)
        assert code == 0, err
        assert out.startswith("kairos ready:")
        assert "reusing PostgreSQL" in err
    finally:
        shutil.rmtree(data, ignore_errors=True)

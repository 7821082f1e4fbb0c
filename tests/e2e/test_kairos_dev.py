"""`kairos dev` as a user runs it: comes up, stops on Ctrl-C with one line, reuses its
data and its ports, refuses a second start in the same folder; `events tail` with the
stack down says so and exits."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

KAIROS = shutil.which("kairos", path=str(Path(sys.executable).parent))


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("KAIROS_")}


@contextmanager
def started(data: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A `kairos dev` in its own process group (as a terminal starts it), ready."""
    assert KAIROS is not None
    process = subprocess.Popen(
        [KAIROS, "dev", "--data", str(data), "--api-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        yield process, process.stdout.readline()  # blocks until ready (or exit)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def interrupt(process: subprocess.Popen[str]) -> tuple[str, str]:
    """Ctrl-C as a terminal sends it: SIGINT to the whole foreground process group."""
    os.killpg(process.pid, signal.SIGINT)
    return process.communicate(timeout=60)


def catching(pid: int, sig: signal.Signals, within: float = 20.0) -> None:
    """Until the process handles ``sig`` itself (its handler is installed, read from
    /proc): a signal sent earlier, while it still imports, would kill it instead. A
    fixed sleep was too short on a loaded machine."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        status = Path(f"/proc/{pid}/status").read_text()
        caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
        if int(caught.split()[1], 16) & (1 << (sig - 1)):
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} did not install a {sig.name} handler in {within} s")


def folder() -> Path:
    data = Path(tempfile.mkdtemp(prefix="kairos-dev-"))
    data.chmod(0o755)
    return data


def test_dev_comes_up_stops_cleanly_and_reuses_its_data() -> None:
    """First start initialises, prints ready; Ctrl-C exits 0 with servers stopped; the
    second start reuses the cluster."""
    data = folder()
    try:
        with started(data) as (process, line):
            _, err = interrupt(process)
        assert process.returncode == 0, err
        assert line.startswith("kairos ready:")
        assert "initialising PostgreSQL" in err
        assert (data / "postgres" / "pgdata" / "PG_VERSION").exists()
        assert not (data / "postgres" / "pgdata" / "postmaster.pid").exists()
        with started(data) as (process, line):
            _, err = interrupt(process)
        assert process.returncode == 0, err
        assert line.startswith("kairos ready:")
        assert "reusing PostgreSQL" in err
    finally:
        shutil.rmtree(data, ignore_errors=True)


def test_ctrl_c_to_the_process_group_is_one_line_and_exit_0() -> None:
    """SIGINT to the whole group (nats-server included, were it in it): exit 0, no
    traceback, one line says the stack stopped, and no server is left running."""
    data = folder()
    try:
        with started(data) as (process, line):
            assert line.startswith("kairos ready:")
            nats_pid = int((data / "nats" / "nats.pid").read_text())
            _, err = interrupt(process)
        assert process.returncode == 0, err
        assert "Traceback" not in err
        assert "rror" not in err
        stops = [row for row in err.splitlines() if "stopped" in row]
        assert len(stops) == 1, err
        assert "kairos dev stopped" in stops[0]
        assert not Path(f"/proc/{nats_pid}").exists()
        assert not (data / "postgres" / "pgdata" / "postmaster.pid").exists()
    finally:
        shutil.rmtree(data, ignore_errors=True)


def test_second_dev_in_the_same_folder_is_refused() -> None:
    """While one runs, a second `kairos dev` there exits 1 with one line naming the
    running one's pid and URL; the first keeps serving."""
    assert KAIROS is not None
    data = folder()
    try:
        with started(data) as (process, line):
            url = line.split("api ", 1)[1].split(",")[0]
            second = subprocess.run(
                [KAIROS, "dev", "--data", str(data), "--api-port", "0"],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
                env=env(),
            )
            assert second.returncode == 1
            lines = second.stderr.strip().splitlines()
            assert len(lines) == 1, second.stderr
            assert "already running" in lines[0]
            assert f"pid {process.pid}" in lines[0]
            assert url in lines[0]
            assert process.poll() is None
            interrupt(process)
        assert process.returncode == 0
    finally:
        shutil.rmtree(data, ignore_errors=True)


def test_ports_are_stable_across_restarts() -> None:
    """The second start listens on the first start's PostgreSQL and NATS ports."""
    data = folder()
    try:
        urls = []
        for _ in range(2):
            with started(data) as (process, line):
                assert line.startswith("kairos ready:"), line
                recorded = (data / "env").read_text()
                interrupt(process)
            urls.append(sorted(r for r in recorded.splitlines() if "API" not in r))
        assert urls[0] == urls[1]
        ports = json.loads((data / "ports.json").read_text())
        assert {"postgres", "nats"} <= set(ports)
    finally:
        shutil.rmtree(data, ignore_errors=True)


def test_events_tail_with_the_stack_down_says_so_and_exits() -> None:
    """Next to a stopped stack: one line, exit 1, at once. At an address where nothing
    answers: one line, exit 1, within seconds. SIGTERM while it waits ends it."""
    assert KAIROS is not None
    here = folder()
    data = here / ".kairos"
    try:
        with started(data) as (process, _):
            interrupt(process)
        began = time.monotonic()
        stopped = subprocess.run(
            [KAIROS, "events", "tail"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env=env(),
        )
        assert stopped.returncode == 1
        assert len(stopped.stderr.strip().splitlines()) == 1, stopped.stderr
        assert "not running" in stopped.stderr
        assert "Traceback" not in stopped.stderr
        nowhere = subprocess.run(
            [KAIROS, "events", "tail", "--nats-url", "nats://127.0.0.1:1"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env=env(),
        )
        assert nowhere.returncode == 1
        assert len(nowhere.stderr.strip().splitlines()) == 1, nowhere.stderr
        assert time.monotonic() - began < 25
        waiting = subprocess.Popen(
            [KAIROS, "events", "tail", "--nats-url", "nats://127.0.0.1:1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env(),
        )
        catching(waiting.pid, signal.SIGTERM)  # started, and waiting for the server
        waiting.send_signal(signal.SIGTERM)
        _, err = waiting.communicate(timeout=10)
        assert waiting.returncode == 0, err
        assert "Traceback" not in err
    finally:
        shutil.rmtree(here, ignore_errors=True)

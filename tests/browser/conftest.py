"""The dashboard in a real browser: Debian's chromium (scripts/ensure-chromium) driven by
Playwright for Python through ``executable_path``, against a whole ``kairos dev`` (its own
PostgreSQL, nats-server, scheduler and API) started for the module."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from adapters.auth.tokens import DevKeys

ROOT = Path(__file__).resolve().parents[2]
KAIROS = shutil.which("kairos", path=str(Path(sys.executable).parent))
ARTIFACTS = ROOT / ".artifacts" / "browser"


@dataclass
class Hook:
    """A webhook receiver: answers ``fail_first`` requests with 500, then 200."""

    fail_first: int = 0
    received: list[str] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


def _serve(hook: Hook) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            hook.received.append(self.path)
            failing = len(hook.received) <= hook.fail_first
            body = b"boom: upstream down" if failing else b"ok"
            self.send_response(500 if failing else 200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@dataclass
class Stack:
    """A running ``kairos dev``: its API URL and its dev keys (to mint tokens)."""

    url: str
    data: Path
    hook: Hook

    def token(self, tenant: str, *scopes: str) -> str:
        keys = DevKeys(self.data / "auth")
        return keys.mint(tenant, list(scopes), ttl=timedelta(hours=1), now=time.time())

    def api(self, method: str, path: str, token: str, body: Any = None) -> Any:
        answer = httpx.request(
            method,
            self.url + path,
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert answer.status_code < 300, answer.text
        return answer.json() if answer.content else None

    def sign_in_link(self, tenant: str, *scopes: str) -> str:
        """What `kairos ui` prints: the command a person runs next to `make dev`."""
        assert KAIROS is not None
        flags = [f"--scope={s}" for s in scopes]
        done = subprocess.run(
            [KAIROS, "ui", "--tenant", tenant, "--data", str(self.data), *flags],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout.strip()


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    assert KAIROS is not None
    hook = Hook(fail_first=1)
    receiver = _serve(hook)
    root = Path(tempfile.mkdtemp(prefix="kairos-ui-"))
    root.chmod(0o755)
    data = root / ".kairos"
    env = {**os.environ, "KAIROS_HTTP_ALLOW": "127.0.0.1/32"}
    process = subprocess.Popen(
        [KAIROS, "dev", "--data", str(data), "--api-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("kairos ready: api http://127.0.0.1:"), line
        url = line.split("api ", 1)[1].split(",", 1)[0]
        yield Stack(url=url, data=data, hook=hook)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        receiver.shutdown()
        shutil.rmtree(root, ignore_errors=True)


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "no chromium: scripts/ensure-chromium installs Debian's package"
    return found


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    # Root (CI, this machine) cannot use chromium's user-namespace sandbox.
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    launched = playwright.chromium.launch(executable_path=_chromium(), args=args)
    yield launched
    launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    opened = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    opened.set_default_timeout(20_000)
    yield opened
    opened.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def shoot(page: Page, name: str) -> Path:
    """A full-page screenshot under .artifacts/browser/ (kept after the run)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path

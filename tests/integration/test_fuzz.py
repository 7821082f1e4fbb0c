"""Fuzzing the served API over HTTP against a real PostgreSQL (schemathesis): generated
requests - NUL bytes and arbitrary Unicode in every string included - to every
operation never get a 5xx and every answer fits the documented schema; a stateful run
follows the OpenAPI links to create, read, change and delete real objects.

The quick profile runs in ``make test`` (``KAIROS_FUZZ_EXAMPLES``, default 8);
``make fuzz`` runs 200 examples per operation. The API connects as ``kairos_app``,
exactly as ``kairos serve`` does, so the database sees what production sees."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import FlakyStrategyDefinition
from hypothesis.stateful import run_state_machine_as_test
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from adapters.embedded.postgres import EmbeddedPostgres
from adapters.http.api import create_app, header_principal
from adapters.memory.database import MemoryDatabase
from adapters.postgres.database import PostgresDatabase, create_pool
from adapters.secrets import FernetSecretBox
from service.runtime.processes import api_config
from tests.servers import TEMPLATE, _scratch_database, app_dsn

EXAMPLES = int(os.environ.get("KAIROS_FUZZ_EXAMPLES", "8"))
# The quick profile is the same every run (CI stays reproducible); `make fuzz` explores.
FIXED = EXAMPLES <= 50
BOX = FernetSecretBox(FernetSecretBox.generate_key())
HEADERS = {"Kairos-Tenant": "acme"}
CHECKS = [not_a_server_error, content_type_conformance, response_schema_conformance]
# The schema is the app's own; generation needs no server (requests go to the fixture's).
schema = schemathesis.openapi.from_dict(
    create_app(MemoryDatabase(), auth=header_principal, secrets=BOX).openapi()
)


class ApiServer:
    """The API on a real socket, in its own thread and event loop, over a kairos_app
    pool (the pool must live on the loop that uses it)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        pool = await create_pool(self.dsn, name="kairos-api")
        try:
            app = create_app(PostgresDatabase(pool), auth=header_principal, secrets=BOX)
            self._server = uvicorn.Server(api_config(app, "127.0.0.1", 0))
            await self._server.serve()
        finally:
            await pool.close()

    def __enter__(self) -> ApiServer:
        self._thread.start()
        deadline = time.monotonic() + 30
        while self._server is None or not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fuzzing API did not start")
            time.sleep(0.02)
        host, port = self._server.servers[0].sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}"
        return self

    def __exit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.should_exit = True
        self._thread.join(30)


@pytest.fixture(scope="module")
def api_url(postgres: EmbeddedPostgres) -> Iterator[str]:
    for dsn in _scratch_database(postgres, TEMPLATE):
        with ApiServer(app_dsn(dsn)) as server:
            yield server.url


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=FIXED,
    suppress_health_check=list(HealthCheck),
)
def test_no_request_gets_a_5xx_and_every_answer_fits_the_schema(
    case: schemathesis.Case[Any], api_url: str
) -> None:
    """Any generated request to any operation (NUL and any Unicode allowed): never a
    5xx from the real database; content type and body as documented."""
    response = case.call(base_url=api_url, headers=HEADERS)
    case.validate_response(response, checks=CHECKS)


def test_the_stateful_run_creates_reads_changes_and_deletes_real_objects(api_url: str) -> None:
    """Following the OpenAPI links (a created job's id into its GET, PATCH, secrets;
    a schedule's into pause, trigger, backfill...): no 5xx along any sequence."""
    base = schema.as_state_machine()
    seen: list[tuple[str, str, int]] = []
    # Failures are collected, not raised: Hypothesis would replay a failing sequence to
    # report it, and a real server's state has moved on by then (it cannot replay).
    failures: list[str] = []

    class Workflow(base):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: schemathesis.Case[Any]) -> dict[str, Any]:
            return {"base_url": api_url, "headers": HEADERS}

        def after_call(self, response: Any, case: schemathesis.Case[Any]) -> None:
            super().after_call(response, case)
            seen.append((case.method, case.path, response.status_code))

        def validate_response(self, response: Any, case: schemathesis.Case[Any], **_: Any) -> None:
            try:
                case.validate_response(response, checks=CHECKS)
            except Exception as exc:  # any failed check: keep it with its request
                body = response.text[:300] if hasattr(response, "text") else ""
                failures.append(f"{case.method} {case.formatted_path} -> {response.status_code} "
                                f"{type(exc).__name__}: {str(exc)[:600]} | {body}")  # fmt: skip

    # Rounds of at most 25 sequences: past a few dozen, Hypothesis' rule sampling over
    # a live server's bundles trips its own consistency check (FlakyStrategyDefinition),
    # which says nothing about the API. A round it cuts short still checked every answer
    # it saw (``failures``); at least one round must finish, so the quick profile has
    # three chances (a round cut short that early is seconds).
    rounds = max(3, EXAMPLES // 25)
    finished = 0
    for _ in range(rounds):
        try:
            run_state_machine_as_test(
                Workflow,
                settings=settings(
                    max_examples=25,
                    stateful_step_count=12,
                    deadline=None,
                    derandomize=FIXED,
                    # No replay and no shrinking: a real server's state has moved on.
                    database=None,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                ),
            )
            finished += 1
        except FlakyStrategyDefinition:
            continue
    assert finished >= 1, f"no stateful round finished of {rounds}"
    assert not failures, "\n".join(failures[:10])
    # It really went past creation: some call used an id that a create answered.
    followed = {(m, p) for m, p, status in seen if "{" in p and status < 400}
    assert followed, sorted(set(seen))[:20]


def test_a_megabyte_header_on_the_real_server_answers_the_envelope(api_url: str) -> None:
    """A 1 MB Idempotency-Key through uvicorn as Kairos configures it: 431 with the
    error envelope, not the HTTP server's plain-text 400."""
    response = httpx.post(
        f"{api_url}/schedules/00000000-0000-0000-0000-000000000001/trigger",
        json={},
        headers={**HEADERS, "Idempotency-Key": "k" * 1_000_000},
        timeout=30,
    )
    assert response.status_code == 431
    assert response.json()["error"]["details"]["field"] == "idempotency-key"

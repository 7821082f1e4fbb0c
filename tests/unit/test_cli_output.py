"""How the operator CLI prints (tables, times, documents) and finds its server and token."""

from __future__ import annotations

import fcntl
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import httpx
import jwt
import pytest
import yaml

from adapters.auth.tokens import DevKeys
from service.cli import output
from service.cli.client import ApiClient, ApiError, CliError, Connection, connection
from service.cli.main import main

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


HELD: list[IO[str]] = []  # the locks of the "running" stacks, held for the session


def running_dev(root: Path, env: str) -> None:
    """What a running `kairos dev` leaves under its folder: its env file, and its lock
    held (the commands read the env file only while a stack holds the lock)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "env").write_text(env)
    handle = (root / "dev.lock").open("a+")
    fcntl.flock(handle, fcntl.LOCK_EX)
    HELD.append(handle)


def test_table_aligns_columns_without_trailing_blanks() -> None:
    """Each column starts at the same offset on every line; no line ends in a blank."""
    text = output.table(("NAME", "STATE", "ID"), [("a", "enabled", "1"), ("longer", "-", "22")])
    lines = text.splitlines()
    assert lines == ["NAME    STATE    ID", "a       enabled  1", "longer  -        22"]


def test_colour_only_when_asked_and_widths_count_text_only() -> None:
    """Status cells are coloured on request; the padding is the plain text's."""
    plain = output.table(("S", "X"), [("dead", "1")])
    coloured = output.table(("S", "X"), [("dead", "1")], colour=True)
    assert "\x1b[" not in plain
    assert coloured.splitlines()[1] == "\x1b[31mdead\x1b[0m  1"


def test_times_are_iso_utc_and_relative() -> None:
    """Instants print as ISO 8601 UTC to the second; relative in up to two units."""
    assert output.utc("2026-03-01T13:30:05.123+01:00") == "2026-03-01T12:30:05Z"
    assert output.utc(None) == "-"
    assert output.relative("2026-03-01T12:04:10+00:00", NOW) == "in 4m 10s"
    assert output.relative("2026-02-28T09:00:00Z", NOW) == "1d ago"
    assert output.relative("2026-03-01T12:00:00Z", NOW) == "now"
    assert output.when("2026-03-01T15:00:00Z", NOW) == "2026-03-01T15:00:00Z (in 3h)"


def test_documents_are_the_apis_json_or_the_same_as_yaml() -> None:
    """`-o json` round-trips to the same document; `-o yaml` loads to it as well."""
    doc = {"items": [{"name": "ä", "next_fire_at": None, "n": 1}], "next_cursor": None}
    assert json.loads(output.document(doc, "json")) == doc
    assert yaml.safe_load(output.document(doc, "yaml")) == doc


def test_triggers_and_targets_in_one_cell() -> None:
    """Every trigger kind and target kind reads as one short phrase."""
    assert output.trigger_text({"type": "CRON", "expression": "0 3 * * *"}) == "cron 0 3 * * *"
    assert output.trigger_text({"type": "FIXED_DELAY", "every": "PT15M", "mode": "rate"}) == (
        "every PT15M (rate)"
    )
    assert output.trigger_text({"type": "EVENT", "subject": "orders.*"}) == "event orders.*"
    assert output.trigger_text({"type": "ONE_SHOT", "at": "2026-03-29T00:30:00+00:00"}) == (
        "once at 2026-03-29T00:30:00Z"
    )
    assert output.target_text({"kind": "QUEUE", "config": {"queue": "reports"}}) == (
        "QUEUE reports"
    )
    assert output.target_text({"kind": "WORKER", "config": {"type": "r.gen"}}) == "WORKER r.gen"


def test_environment_wins_over_the_dev_stack(tmp_path: Path) -> None:
    """KAIROS_URL and KAIROS_TOKEN are used as given, whatever ./.kairos holds."""
    running_dev(tmp_path, "KAIROS_API_URL=http://127.0.0.1:1\n")
    conn = connection({"KAIROS_URL": "https://kairos.example/", "KAIROS_TOKEN": "t"}, data=tmp_path)
    assert (conn.url, conn.token, conn.from_dev) == ("https://kairos.example", "t", False)


def test_dev_stack_gives_url_and_a_minted_token(tmp_path: Path) -> None:
    """Next to a dev stack: its recorded API URL and a short token for the tenant."""
    running_dev(tmp_path, "KAIROS_API_URL=http://127.0.0.1:8080\n")
    DevKeys(tmp_path / "auth").ensure()
    conn = connection({"KAIROS_TENANT": "acme"}, data=tmp_path)
    assert (conn.url, conn.from_dev) == ("http://127.0.0.1:8080", True)
    assert conn.token is not None
    claims = jwt.decode(conn.token, options={"verify_signature": False})
    assert claims["tenant"] == "acme"
    assert claims["exp"] - time.time() <= timedelta(minutes=10).total_seconds() + 5
    with pytest.raises(CliError) as no_tenant:
        connection({}, data=tmp_path)
    assert no_tenant.value.exit_code == 2
    assert "--tenant" in no_tenant.value.text


def test_nothing_to_talk_to_is_one_line(tmp_path: Path) -> None:
    """No KAIROS_URL and no dev stack recorded: one line saying so, exit 1."""
    with pytest.raises(CliError) as none:
        connection({}, data=tmp_path / "missing")
    assert none.value.exit_code == 1
    assert "\n" not in none.value.text
    assert none.value.text.startswith("no server: set KAIROS_URL")


def test_a_dev_token_never_goes_to_another_server(tmp_path: Path) -> None:
    """With KAIROS_URL elsewhere and no KAIROS_TOKEN, nothing is minted from the dev keys."""
    running_dev(tmp_path, "KAIROS_API_URL=http://127.0.0.1:8080\n")
    DevKeys(tmp_path / "auth").ensure()
    conn = connection(
        {"KAIROS_URL": "https://kairos.example", "KAIROS_TENANT": "acme"}, data=tmp_path
    )
    assert conn.token is None


async def test_a_stopped_stack_is_one_line_not_a_traceback() -> None:
    """A refused connection is an Unreachable naming the dev stack or the address."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("All connection attempts failed", request=request)

    for from_dev, start in (
        (True, "the dev stack is not running (nothing answers at http://127.0.0.1:9)"),
        (False, "cannot reach the Kairos API at http://127.0.0.1:9: All connection"),
    ):
        conn = Connection(url="http://127.0.0.1:9", token="t", from_dev=from_dev)
        async with ApiClient(conn, transport=httpx.MockTransport(refuse)) as client:
            with pytest.raises(CliError) as down:
                await client.get("/schedules")
        assert down.value.exit_code == 1
        assert down.value.text.startswith(start)


async def test_an_answer_without_the_envelope_still_reads_as_one_error() -> None:
    """A proxy's HTML 502 becomes ``HTTP 502: <text>``; a 405 reads as a missing route."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            return httpx.Response(
                405, json={"error": {"code": "INVALID_REQUEST", "message": "Method Not Allowed"}}
            )
        return httpx.Response(502, text="<html>bad gateway</html>")

    conn = Connection(url="http://kairos", token="t")
    async with ApiClient(conn, transport=httpx.MockTransport(answer)) as client:
        with pytest.raises(CliError) as proxy:
            await client.get("/jobs")
        assert proxy.value.text == "HTTP 502: <html>bad gateway</html>"
        with pytest.raises(ApiError) as missing:
            await client.delete("/jobs/x")
        assert missing.value.route_missing


def test_kairos_get_with_nothing_running_exits_1_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`kairos get schedules` with no server known: exit 1, one line on stderr."""
    for name in ("KAIROS_URL", "KAIROS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert main(["get", "schedules", "--data", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("kairos get: error: no server: set KAIROS_URL")
    assert captured.err.count("\n") == 1

"""The chaos suite's 2-minute profile (``bench/chaos.py --duration 120``, docs/chaos.md):
one harness run for the module, one test per promise it checks.

The harness starts its own PostgreSQL, nats-server, 3 replicas and 2 workers, so this
module needs none of the session's servers. ``make chaos`` is the 10-minute profile.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.chaos

HARNESS = Path(__file__).resolve().parents[2] / "bench" / "chaos.py"
DURATION = "120"


@pytest.fixture(scope="module")
def chaos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("chaos") / "figures.json"
    done = subprocess.run(
        [sys.executable, str(HARNESS), "--duration", DURATION, "--json", str(out), "--keep-failed"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        cwd=HARNESS.parents[1],
    )
    # 1 is "a check failed", which the tests below tell apart; anything else broke the run.
    assert done.returncode in (0, 1), done.stderr[-4000:]
    result: dict[str, Any] = json.loads(out.read_text())
    result["table"] = done.stdout
    return result


def figure(result: dict[str, Any], name: str) -> Any:
    for check in result["checks"]:
        if check["figure"].strip() == name:
            return check["value"]
    raise KeyError(name)


def explain(result: dict[str, Any]) -> str:
    details = {k: result[k] for k in ("stuck", "missing_messages", "takeovers") if result[k]}
    return f"seed {result['seed']}, data and logs kept in {result['data']}\n{result['table']}" + (
        "\n" + json.dumps(details, indent=1, default=str)
    )


def test_every_fire_of_the_window_is_exactly_one_run_row(chaos: dict[str, Any]) -> None:
    """No fire is lost or doubled, and no run row stands at a time the rule never gave."""
    assert figure(chaos, "fires expected in the window") > 0
    assert figure(chaos, "fires lost (no run row)") == 0, explain(chaos)
    assert figure(chaos, "fires duplicated (>1 row)") == 0, explain(chaos)
    assert figure(chaos, "run rows off the rule") == 0, explain(chaos)


def test_no_run_is_left_active_once_settled(chaos: dict[str, Any]) -> None:
    """After the faults, every run ends: none stays scheduled, pending or running."""
    assert figure(chaos, "runs stuck after settle") == 0, explain(chaos)


def test_every_succeeded_broker_run_is_in_its_stream(chaos: dict[str, Any]) -> None:
    """A succeeded EVENT/QUEUE run's message is stored in its stream."""
    assert figure(chaos, "succeeded EVENT/QUEUE runs") != "0/0"
    assert figure(chaos, "messages missing from streams") == 0, explain(chaos)


def test_no_delivery_is_stored_twice_and_http_ones_arrive(chaos: dict[str, Any]) -> None:
    """A retried EVENT/QUEUE run is stored once (Nats-Msg-Id); a succeeded HTTP run
    reached the receiver."""
    assert figure(chaos, "messages stored more than once") == 0, explain(chaos)
    assert figure(chaos, "succeeded HTTP runs not received") == 0, explain(chaos)


def test_every_outbox_event_is_in_the_stream_exactly_once(chaos: dict[str, Any]) -> None:
    """Each event written to the outbox is relayed to KAIROS_EVENTS once, none twice."""
    assert figure(chaos, "outbox events") > 0
    assert figure(chaos, "events missing from KAIROS_EVENTS") == 0, explain(chaos)
    assert figure(chaos, "events in KAIROS_EVENTS twice") == 0, explain(chaos)
    assert figure(chaos, "stream events not from the outbox") == 0, explain(chaos)


def test_no_event_id_is_written_to_the_outbox_twice(chaos: dict[str, Any]) -> None:
    """Two events never share an id: the stream's duplicate window would drop the second."""
    assert figure(chaos, "event ids written twice") == 0, explain(chaos)


def test_no_process_exits_by_itself(chaos: dict[str, Any]) -> None:
    """Replicas and workers ride out broker and database restarts without exiting."""
    assert figure(chaos, "processes exited by themselves") == 0, explain(chaos)


def test_a_killed_leader_is_replaced_within_3_seconds(chaos: dict[str, Any]) -> None:
    """After a leader's kill -9 a new leader materialises within 3 s (median)."""
    value = figure(chaos, "failover after leader kill -9 (median s)")
    assert value not in ("n/a", "never"), explain(chaos)
    assert float(value) <= 3, explain(chaos)


def test_a_frozen_leader_is_replaced_within_the_ttl(chaos: dict[str, Any]) -> None:
    """A leader frozen past its lease is replaced within ttl + 2 s."""
    check = next(c for c in chaos["checks"] if c["figure"] == "takeover after freeze (s)")
    assert check["value"] not in ("n/a", "never"), explain(chaos)
    assert check["ok"], explain(chaos)


def test_failovers_skip_under_5_percent_of_fires(chaos: dict[str, Any]) -> None:
    """Fires that came due around a leader's loss (while no leader materialised, and
    while the lost leader's pool still held runs) are run, not skipped by overlap. The
    issue's 5 % is the 10-minute profile's; this 2-minute one packs the 35 s freeze
    into a sixth of the time, so its guard is 10 %. Other faults are reported apart."""
    check = next(c for c in chaos["checks"] if c["figure"].strip() == "after a leader failover")
    assert check["ok"], explain(chaos)

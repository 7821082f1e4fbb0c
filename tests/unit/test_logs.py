"""Structured logs: one JSON object per line, carrying the context bound for the work
(here a run's ids), for Kairos' own loggers and libraries' alike."""

from __future__ import annotations

import json
import logging

import pytest

from adapters import logs


def test_json_lines_carry_the_bound_context(capsys: pytest.CaptureFixture[str]) -> None:
    """A stdlib logger inside ``bound(...)``: JSON with level, logger, time and the ids;
    outside it, the ids are gone."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        logs.configure(json=True)
        with logs.bound(tenant_id="acme", run_id="r-1", schedule_id=None):
            logging.getLogger("kairos.worker").warning("lease on run %s lost", "r-1")
        logging.getLogger("kairos.api").info("after")
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    first, second = lines
    assert first["event"] == "lease on run r-1 lost"
    assert (first["level"], first["logger"]) == ("warning", "kairos.worker")
    assert (first["tenant_id"], first["run_id"]) == ("acme", "r-1")
    assert "schedule_id" not in first
    assert first["timestamp"].endswith("Z")
    assert "run_id" not in second

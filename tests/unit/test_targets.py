"""Target configs: what an HTTP target renders per attempt, and what a job type is."""

from __future__ import annotations

import pytest

from domain.errors import InvalidRequest
from domain.job import Target, TargetKind
from domain.targets import HttpTarget

CONTEXT = {
    "run_id": "r-1",
    "schedule_id": "s-1",
    "job_id": "j-1",
    "tenant_id": "acme",
    "nominal_at": "2026-03-29T01:30:00+00:00",
    "attempt": 2,
    "payload": {"invoice": 42},
}


def test_the_default_body_is_the_runs_context() -> None:
    """Without a body the whole context is sent, payload as an object."""
    target = HttpTarget.parse({"url": "https://hooks.example/x"})
    assert target.render_body(CONTEXT) == CONTEXT
    assert (target.method, target.accepts(204), target.accepts(302)) == ("POST", True, False)


def test_templates_substitute_strings_and_place_the_payload_object() -> None:
    """${...} in string leaves become text; a leaf that is exactly ${payload} becomes the
    payload object; $$ is a literal dollar; other values pass through."""
    target = HttpTarget.parse(
        {
            "url": "https://hooks.example/x",
            "body": {
                "text": "run ${run_id} try ${attempt} at ${nominal_at}",
                "data": "${payload}",
                "price": "$$5",
                "list": ["${tenant_id}", 3, None],
            },
            "expected_status": [200, 202],
        }
    )
    assert target.render_body(CONTEXT) == {
        "text": "run r-1 try 2 at 2026-03-29T01:30:00+00:00",
        "data": {"invoice": 42},
        "price": "$5",
        "list": ["acme", 3, None],
    }
    assert (target.accepts(202), target.accepts(204)) == (True, False)


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({}, "target.config.type"),
        ({"type": "Reports"}, "target.config.type"),
        ({"type": "reports", "extra": 1}, "target.config.extra"),
    ],
)
def test_worker_job_types_are_lower_case_names(config: dict[str, object], field: str) -> None:
    """A WORKER job's type cannot collide with a target kind (upper case) capability."""
    with pytest.raises(InvalidRequest) as caught:
        Target(kind=TargetKind.WORKER, config=config)
    assert caught.value.details["field"] == field


def test_a_worker_jobs_capability_is_its_type() -> None:
    """Runs of a WORKER job are claimed by workers declaring its type; others by kind."""
    worker = Target(kind=TargetKind.WORKER, config={"type": "reports.generate"})
    event = Target(kind=TargetKind.EVENT, config={"subject": "a.b"})
    assert (worker.capability, event.capability) == ("reports.generate", "EVENT")

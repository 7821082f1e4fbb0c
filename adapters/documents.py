"""Aggregates as JSON documents (the ``spec`` columns) and back.

Shared by the storage adapters so the memory fake and Postgres store exactly the same
information: a contract test that round-trips through Postgres catches any field the
documents forget.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.durations import parse_duration
from domain.ids import TenantId
from domain.job import Backoff, BackoffKind, Job, Priority, Target, TargetKind
from domain.schedule import MisfirePolicy, OverlapPolicy, Schedule
from domain.timing import Timing
from service.specs import job_document, schedule_policies


def job_spec(job: Job) -> dict[str, Any]:
    return job_document(job)


def job_fields(spec: Mapping[str, Any]) -> dict[str, Any]:
    backoff = spec["backoff"]
    return {
        "target": Target(
            kind=TargetKind(spec["target"]["kind"]), config=dict(spec["target"]["config"])
        ),
        "max_attempts": spec["max_attempts"],
        "backoff": Backoff(
            kind=BackoffKind(backoff["kind"]),
            initial=parse_duration(backoff["initial"]),
            multiplier=float(backoff["multiplier"]),
            max=parse_duration(backoff["max"]),
        ),
        "timeout": parse_duration(spec["timeout"]),
        "max_concurrency": spec["max_concurrency"],
        "priority": Priority[str(spec["priority"]).upper()],
    }


def schedule_spec(schedule: Schedule) -> dict[str, Any]:
    return {"timing": schedule.timing.to_spec(), **schedule_policies(schedule)}


def schedule_fields(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "timing": Timing.from_spec(spec["timing"]),
        "payload": dict(spec["payload"]),
        "misfire_policy": MisfirePolicy(spec["misfire_policy"]),
        "catchup_window": parse_duration(spec["catchup_window"]),
        "max_catchup": spec["max_catchup"],
        "overlap_policy": OverlapPolicy(spec["overlap_policy"]),
        "max_buffered": spec["max_buffered"],
    }


def require_tenant(owner: TenantId, tenant: TenantId) -> None:
    """Refuse to write an object of one tenant inside another tenant's transaction."""
    if owner != tenant:
        raise ValueError(f"object of tenant {owner} written in a transaction of {tenant}")

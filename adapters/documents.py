"""Aggregates as JSON documents (the ``spec`` columns) and back.

Shared by the storage adapters so the memory fake and Postgres store exactly the same
information: a contract test that round-trips through Postgres catches any field the
documents forget.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from adapters import jsonfast
from domain.calendar import Calendar, CountryHolidays, Holiday, HolidaySource, ICalHolidays
from domain.durations import format_duration, parse_duration
from domain.ids import ScheduleId, TenantId
from domain.job import Backoff, BackoffKind, Job, Priority, SealedSecret, Target, TargetKind
from domain.schedule import MisfirePolicy, OverlapPolicy, Schedule
from domain.timing import Timing


def job_document(job: Job) -> dict[str, Any]:
    """A job's options as a JSON-ready document (the API's answer and the stored spec)."""
    return {
        "target": {"kind": job.target.kind.value, "config": dict(job.target.config)},
        "max_attempts": job.max_attempts,
        "backoff": {
            "kind": job.backoff.kind.value,
            "initial": format_duration(job.backoff.initial),
            "multiplier": job.backoff.multiplier,
            "max": format_duration(job.backoff.max),
        },
        "timeout": format_duration(job.timeout),
        "max_concurrency": job.max_concurrency,
        "priority": job.priority.name.lower(),
    }


def schedule_policies(schedule: Schedule) -> dict[str, Any]:
    """A schedule's payload and policies as JSON (the API's answer and the stored spec)."""
    return {
        "payload": dict(schedule.payload),
        "misfire_policy": schedule.misfire_policy.value,
        "catchup_window": format_duration(schedule.catchup_window),
        "max_catchup": schedule.max_catchup,
        "overlap_policy": schedule.overlap_policy.value,
        "max_buffered": schedule.max_buffered,
        "depends_on": [str(u) for u in schedule.depends_on],
    }


def job_spec(job: Job) -> dict[str, Any]:
    """What is stored: the document, the sealed signing secrets, the disabled mark."""
    return {
        **job_document(job),
        "secrets": [
            {"id": s.id, "sealed": s.sealed, "created_at": s.created_at.isoformat()}
            for s in job.secrets
        ],
        "disabled": job.disabled,
    }


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
        "secrets": tuple(
            SealedSecret(
                id=s["id"], sealed=s["sealed"], created_at=datetime.fromisoformat(s["created_at"])
            )
            for s in spec.get("secrets", ())
        ),
        "disabled": spec.get("disabled"),
    }


def calendar_spec(calendar: Calendar) -> dict[str, Any]:
    sources: list[dict[str, Any]] = []
    for source in calendar.sources:
        if isinstance(source, CountryHolidays):
            sources.append({"country": source.country, "subdivision": source.subdivision})
        else:
            sources.append({"ical": source.text})
    return {
        "business_days": sorted(calendar.business_days),
        "holidays": [{"date": h.day.isoformat(), "name": h.name} for h in calendar.holidays],
        "sources": sources,
    }


def calendar_fields(spec: Mapping[str, Any]) -> dict[str, Any]:
    sources: list[HolidaySource] = []
    for source in spec["sources"]:
        if "ical" in source:
            sources.append(ICalHolidays(text=source["ical"]))
        else:
            sources.append(
                CountryHolidays(country=source["country"], subdivision=source["subdivision"])
            )
    return {
        "business_days": frozenset(spec["business_days"]),
        "holidays": tuple(
            Holiday(day=date.fromisoformat(h["date"]), name=h["name"]) for h in spec["holidays"]
        ),
        "sources": tuple(sources),
    }


def schedule_spec(schedule: Schedule) -> dict[str, Any]:
    doc = {"timing": schedule.timing.to_spec(), **schedule_policies(schedule)}
    if schedule.state_reason is not None:
        doc["state_reason"] = schedule.state_reason
    return doc


def schedule_fields(spec: Mapping[str, Any] | str) -> dict[str, Any]:
    """A schedule's fields from its stored document, given decoded or as JSON text.

    From text (what the materialiser's due query selects), the timing is parsed once per
    distinct document: a Timing is immutable, and parsing is most of the cost of reading
    a due schedule.
    """
    if isinstance(spec, str):
        timing = _timing_of(spec)
        doc: Mapping[str, Any] = jsonfast.loads(spec)
    else:
        doc = spec
        timing = Timing.from_spec(doc["timing"])
    return {
        "timing": timing,
        "payload": dict(doc["payload"]),
        "misfire_policy": MisfirePolicy(doc["misfire_policy"]),
        "catchup_window": parse_duration(doc["catchup_window"]),
        "max_catchup": doc["max_catchup"],
        "overlap_policy": OverlapPolicy(doc["overlap_policy"]),
        "max_buffered": doc["max_buffered"],
        "depends_on": tuple(ScheduleId(uuid.UUID(u)) for u in doc.get("depends_on", ())),
        "state_reason": doc.get("state_reason"),
    }


@lru_cache(maxsize=4096)
def _timing_of(spec_text: str) -> Timing:
    return Timing.from_spec(jsonfast.loads(spec_text)["timing"])


def require_tenant(owner: TenantId, tenant: TenantId) -> None:
    """Refuse to write an object of one tenant inside another tenant's transaction."""
    if owner != tenant:
        raise ValueError(f"object of tenant {owner} written in a transaction of {tenant}")

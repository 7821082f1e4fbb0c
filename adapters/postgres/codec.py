"""The stored documents: jobs, schedules and calendars as the JSON of their ``spec``
column, and back.

This is the PostgreSQL adapter's own format, independent of what the REST API or
``kairos apply`` accept and answer: the API may rename or regroup its fields without
touching a stored row. The shape is the one stored since the first migration (the
fixtures in ``tests/unit/test_codec.py`` pin it); a change of shape is a new migration
that moves the stored documents.

Reading is forgiving where old rows may differ (a key a row predates takes its default)
and leaves validation to the domain's constructors: a document they refuse raises, and
the adapter quarantines that row (``domain.quarantine``).

The memory adapter stores what comes back from a round trip through this codec too, so
a field it forgets fails the contract suite over both stores.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

from adapters import jsonfast
from domain.calendar import Calendar, CountryHolidays, Holiday, HolidaySource, ICalHolidays
from domain.durations import format_duration, parse_duration, parse_instant
from domain.firing import FoldPolicy, GapPolicy
from domain.ids import CalendarId, JobId, ScheduleId, TenantId
from domain.job import Backoff, BackoffKind, Job, Priority, SealedSecret, Target, TargetKind
from domain.schedule import MisfirePolicy, OverlapPolicy, Schedule, ScheduleState
from domain.timing import CalendarPolicy, DstPolicy, Timing, WindowPolicy
from domain.triggers import (
    CronTrigger,
    DelayMode,
    EventTrigger,
    FixedDelayTrigger,
    OneShotTrigger,
    RRuleTrigger,
    Trigger,
    TriggerKind,
)
from domain.windows import ExecutionWindow
from domain.zones import get_zone

# A JSON object as the asyncpg jsonb codec takes and gives it (adapters.jsonfast).
Document = dict[str, Any]

# -- jobs -----------------------------------------------------------------------------------


def job_document(job: Job) -> Document:
    """What a job's ``spec`` stores: its options, the sealed signing secrets, the
    disabled mark, its labels (only when it has some: older documents have none)."""
    doc: Document = {
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
        "secrets": [
            {"id": s.id, "sealed": s.sealed, "created_at": s.created_at.isoformat()}
            for s in job.secrets
        ],
        "disabled": job.disabled,
    }
    if job.labels:
        doc["labels"] = dict(job.labels)
    return doc


def job_from_document(
    doc: Mapping[str, Any],
    *,
    id: JobId,
    tenant_id: TenantId,
    name: str,
    version: int,
    created_at: datetime,
    updated_at: datetime,
) -> Job:
    """The job a ``spec`` and its row's columns describe."""
    target, backoff = doc["target"], doc["backoff"]
    return Job(
        id=id,
        tenant_id=tenant_id,
        name=name,
        target=Target(kind=TargetKind(target["kind"]), config=dict(target["config"])),
        max_attempts=doc["max_attempts"],
        backoff=Backoff(
            kind=BackoffKind(backoff["kind"]),
            initial=parse_duration(backoff["initial"]),
            multiplier=float(backoff["multiplier"]),
            max=parse_duration(backoff["max"]),
        ),
        timeout=parse_duration(doc["timeout"]),
        max_concurrency=doc["max_concurrency"],
        priority=Priority[str(doc["priority"]).upper()],
        secrets=tuple(
            SealedSecret(
                id=s["id"], sealed=s["sealed"], created_at=datetime.fromisoformat(s["created_at"])
            )
            for s in doc.get("secrets", ())
        ),
        disabled=doc.get("disabled"),
        labels=dict(doc.get("labels") or {}),
        version=version,
        created_at=created_at,
        updated_at=updated_at,
    )


def reloaded_job(job: Job) -> Job:
    """The job as a store gives it back: through the document and JSON text."""
    return job_from_document(
        _through_json(job_document(job)),
        id=job.id,
        tenant_id=job.tenant_id,
        name=job.name,
        version=job.version,
        created_at=job.created_at,
        updated_at=job.updated_at,
    )


# -- schedules ------------------------------------------------------------------------------


def schedule_document(schedule: Schedule) -> Document:
    """What a schedule's ``spec`` stores: its timing, payload and policies, and the
    reason of its state if it has one."""
    doc: Document = {
        "timing": timing_document(schedule.timing),
        "payload": dict(schedule.payload),
        "misfire_policy": schedule.misfire_policy.value,
        "catchup_window": format_duration(schedule.catchup_window),
        "max_catchup": schedule.max_catchup,
        "overlap_policy": schedule.overlap_policy.value,
        "max_buffered": schedule.max_buffered,
        "depends_on": [str(u) for u in schedule.depends_on],
    }
    if schedule.state_reason is not None:
        doc["state_reason"] = schedule.state_reason
    if schedule.labels:
        doc["labels"] = dict(schedule.labels)
    return doc


def schedule_from_document(
    doc: Mapping[str, Any] | str,
    *,
    id: ScheduleId,
    tenant_id: TenantId,
    name: str,
    job_id: JobId,
    state: ScheduleState,
    next_fire_at: datetime | None,
    fire_count: int,
    system: bool,
    version: int,
    created_at: datetime,
    updated_at: datetime,
) -> Schedule:
    """The schedule a ``spec`` (decoded, or as JSON text) and its row's columns describe.

    From text (what the materialiser's due query selects), the timing is decoded once per
    distinct document: a Timing is immutable, and decoding it is most of the cost of
    reading a due schedule.
    """
    if isinstance(doc, str):
        timing = _timing_of_text(doc)
        doc = jsonfast.loads(doc)
        assert isinstance(doc, Mapping)
    else:
        timing = timing_from_document(doc["timing"])
    return Schedule(
        id=id,
        tenant_id=tenant_id,
        name=name,
        job_id=job_id,
        timing=timing,
        payload=dict(doc["payload"]),
        misfire_policy=MisfirePolicy(doc["misfire_policy"]),
        catchup_window=parse_duration(doc["catchup_window"]),
        max_catchup=doc["max_catchup"],
        overlap_policy=OverlapPolicy(doc["overlap_policy"]),
        max_buffered=doc["max_buffered"],
        depends_on=tuple(ScheduleId(uuid.UUID(u)) for u in doc.get("depends_on", ())),
        state=state,
        state_reason=doc.get("state_reason"),
        labels=dict(doc.get("labels") or {}),
        next_fire_at=next_fire_at,
        fire_count=fire_count,
        system=system,
        version=version,
        created_at=created_at,
        updated_at=updated_at,
    )


def reloaded_schedule(schedule: Schedule) -> Schedule:
    """The schedule as a store gives it back: through the document and JSON text."""
    return schedule_from_document(
        _through_json(schedule_document(schedule)),
        id=schedule.id,
        tenant_id=schedule.tenant_id,
        name=schedule.name,
        job_id=schedule.job_id,
        state=schedule.state,
        next_fire_at=schedule.next_fire_at,
        fire_count=schedule.fire_count,
        system=schedule.system,
        version=schedule.version,
        created_at=schedule.created_at,
        updated_at=schedule.updated_at,
    )


@lru_cache(maxsize=4096)
def _timing_of_text(text: str) -> Timing:
    return timing_from_document(jsonfast.loads(text)["timing"])


# -- timings and triggers -------------------------------------------------------------------


def timing_document(timing: Timing) -> Document:
    return {
        "trigger": trigger_document(timing.trigger),
        "timezone": timing.timezone,
        "dst": {
            "gap": timing.dst.gap.value if timing.dst.gap else None,
            "fold": timing.dst.fold.value if timing.dst.fold else None,
        },
        "start_at": _instant_text(timing.start_at),
        "end_at": _instant_text(timing.end_at),
        "max_fires": timing.max_fires,
        "calendar_id": str(timing.calendar_id) if timing.calendar_id else None,
        "calendar_policy": timing.calendar_policy.value,
        "windows": [str(w) for w in timing.windows],
        "window_policy": timing.window_policy.value,
        "max_jitter": format_duration(timing.max_jitter),
    }


def timing_from_document(doc: Mapping[str, Any]) -> Timing:
    """A stored timing. Keys a document predates take their defaults; a naive instant
    (none is written today) reads in the timing's zone."""
    timezone = doc.get("timezone") or "UTC"
    zone = get_zone(timezone).tzinfo
    dst = doc.get("dst") or {}
    calendar_id = doc.get("calendar_id")
    return Timing(
        trigger=trigger_from_document(doc["trigger"]),
        timezone=timezone,
        dst=DstPolicy(
            gap=GapPolicy(dst["gap"]) if dst.get("gap") else None,
            fold=FoldPolicy(dst["fold"]) if dst.get("fold") else None,
        ),
        start_at=_instant(doc.get("start_at"), "start_at", zone),
        end_at=_instant(doc.get("end_at"), "end_at", zone),
        max_fires=doc.get("max_fires"),
        calendar_id=CalendarId(uuid.UUID(str(calendar_id))) if calendar_id else None,
        calendar_policy=CalendarPolicy(doc.get("calendar_policy") or CalendarPolicy.SKIP),
        windows=tuple(ExecutionWindow.parse(w) for w in doc.get("windows") or ()),
        window_policy=WindowPolicy(doc.get("window_policy") or WindowPolicy.DEFER),
        max_jitter=parse_duration(str(doc.get("max_jitter") or "0"), field="max_jitter"),
    )


def trigger_document(trigger: Trigger) -> Document:
    if isinstance(trigger, CronTrigger):
        return {"type": trigger.kind.value, "expression": trigger.expression.text}
    if isinstance(trigger, RRuleTrigger):
        return {"type": trigger.kind.value, "rrule": trigger.recurrence.text}
    if isinstance(trigger, FixedDelayTrigger):
        return {
            "type": trigger.kind.value,
            "every": format_duration(trigger.every),
            "mode": trigger.mode.value,
        }
    if isinstance(trigger, OneShotTrigger):
        at = trigger.at if trigger.at is not None else trigger.local
        assert at is not None
        return {"type": trigger.kind.value, "at": at.isoformat()}
    return {
        "type": trigger.kind.value,
        "subject": trigger.subject,
        "debounce": format_duration(trigger.debounce),
    }


def trigger_from_document(doc: Mapping[str, Any]) -> Trigger:
    kind = TriggerKind(str(doc["type"]).upper())
    if kind is TriggerKind.CRON:
        return CronTrigger.parse(doc["expression"])
    if kind is TriggerKind.RRULE:
        return RRuleTrigger.parse(doc["rrule"])
    if kind is TriggerKind.FIXED_DELAY:
        return FixedDelayTrigger(
            every=parse_duration(str(doc["every"]), field="trigger.every"),
            mode=DelayMode(str(doc.get("mode") or DelayMode.RATE).lower()),
        )
    if kind is TriggerKind.ONE_SHOT:
        return OneShotTrigger.parse(doc["at"])
    debounce = doc.get("debounce")
    return EventTrigger(
        subject=doc["subject"],
        debounce=parse_duration(str(debounce), field="trigger.debounce")
        if debounce
        else timedelta(0),
    )


def _instant_text(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _instant(value: object, field: str, zone: object) -> datetime | None:
    if value is None or value == "":
        return None
    return parse_instant(str(value), field=field, tz=zone)


# -- calendars ------------------------------------------------------------------------------


def calendar_document(calendar: Calendar) -> Document:
    """What a calendar's ``spec`` stores: weekday numbers (0 = Monday), its own
    holidays, its holiday sources."""
    sources: list[Document] = []
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


def calendar_from_document(
    doc: Mapping[str, Any],
    *,
    id: CalendarId,
    tenant_id: TenantId,
    name: str,
    version: int,
    created_at: datetime,
    updated_at: datetime,
) -> Calendar:
    sources: list[HolidaySource] = []
    for source in doc["sources"]:
        if "ical" in source:
            sources.append(ICalHolidays(text=source["ical"]))
        else:
            sources.append(
                CountryHolidays(country=source["country"], subdivision=source["subdivision"])
            )
    return Calendar(
        id=id,
        tenant_id=tenant_id,
        name=name,
        version=version,
        business_days=frozenset(doc["business_days"]),
        holidays=tuple(
            Holiday(day=date.fromisoformat(h["date"]), name=h["name"]) for h in doc["holidays"]
        ),
        sources=tuple(sources),
        created_at=created_at,
        updated_at=updated_at,
    )


def reloaded_calendar(calendar: Calendar) -> Calendar:
    """The calendar as a store gives it back: through the document and JSON text."""
    return calendar_from_document(
        _through_json(calendar_document(calendar)),
        id=calendar.id,
        tenant_id=calendar.tenant_id,
        name=calendar.name,
        version=calendar.version,
        created_at=calendar.created_at,
        updated_at=calendar.updated_at,
    )


def _through_json(doc: Document) -> Document:
    loaded = jsonfast.loads(jsonfast.dumps_text(doc))
    assert isinstance(loaded, dict)
    return loaded

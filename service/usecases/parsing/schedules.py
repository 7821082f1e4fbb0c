"""A schedule's document as ``CreateSchedule`` or ``UpdateSchedule``, a manual trigger's
as ``TriggerSchedule``, a backfill's as the domain's ``BackfillRequest``. A schedule
document is flat: the timing fields sit next to ``name``, ``job_id`` and the policies;
the domain's ``Timing.from_spec`` reads them."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime

from domain import bounds
from domain.backfill import DEFAULT_MAX_RUNS, BackfillRequest
from domain.changes import KEEP, Keep
from domain.durations import parse_instant
from domain.errors import InvalidRequest
from domain.ids import JobId, ScheduleId, TenantId
from domain.schedule import MisfirePolicy, OverlapPolicy
from domain.timing import SPEC_KEYS, Timing
from service.usecases.commands import (
    CreateSchedule,
    TriggerSchedule,
    UpdateSchedule,
)
from service.usecases.parsing.fields import (
    Doc,
    choice,
    duration,
    given,
    integer,
    labels,
    name,
    object_of,
    refuse_unknown,
    required,
    uuid_of,
)

POLICY_FIELDS = frozenset(
    {
        "misfire_policy",
        "catchup_window",
        "max_catchup",
        "overlap_policy",
        "max_buffered",
        "depends_on",
    }
)
SCHEDULE_FIELDS = frozenset({"name", "job_id", "payload", "labels"}) | POLICY_FIELDS | SPEC_KEYS


# -- schedules --------------------------------------------------------------------------------


def _depends_on(value: object) -> tuple[ScheduleId, ...]:
    if not isinstance(value, list) or len(value) > bounds.MAX_DEPENDS_ON:
        raise InvalidRequest("depends_on must be a list of schedule ids", field="depends_on")
    return tuple(ScheduleId(uuid_of(u, "depends_on")) for u in value)


def update_schedule(
    doc: Doc,
    *,
    tenant_id: TenantId,
    schedule_id: ScheduleId,
    current: Timing | None,
    expected_version: int | None = None,
) -> UpdateSchedule:
    """A schedule's changes from a document. Timing fields are merged over ``current``
    (a PATCH), or form a whole timing (``current`` None)."""
    refuse_unknown(doc, SCHEDULE_FIELDS)
    # Checked in this order, so a document with several errors names the same first one
    # whoever sends it: name, job, payload, timing, then the policies.
    schedule_name = name(doc["name"]) if "name" in doc else KEEP
    job_id = JobId(uuid_of(doc["job_id"], "job_id")) if "job_id" in doc else KEEP
    payload = object_of(doc["payload"], "payload") if "payload" in doc else KEEP
    timing_doc = {k: v for k, v in doc.items() if k in SPEC_KEYS}
    timing: Timing | Keep = KEEP
    if timing_doc or current is None:
        base = current.to_spec() if current is not None else {}
        timing = Timing.from_spec({**base, **timing_doc})
    return UpdateSchedule(
        tenant_id=tenant_id,
        schedule_id=schedule_id,
        name=schedule_name,
        job_id=job_id,
        payload=payload,
        timing=timing,
        misfire_policy=choice(MisfirePolicy, doc["misfire_policy"], "misfire_policy")
        if "misfire_policy" in doc
        else KEEP,
        catchup_window=duration(doc["catchup_window"], "catchup_window", bounds.MAX_CATCHUP_WINDOW)
        if "catchup_window" in doc
        else KEEP,
        max_catchup=integer(
            doc["max_catchup"], "max_catchup", minimum=0, maximum=bounds.MAX_CATCHUP
        )
        if "max_catchup" in doc
        else KEEP,
        overlap_policy=choice(OverlapPolicy, doc["overlap_policy"], "overlap_policy")
        if "overlap_policy" in doc
        else KEEP,
        max_buffered=integer(
            doc["max_buffered"], "max_buffered", minimum=1, maximum=bounds.MAX_BUFFERED
        )
        if "max_buffered" in doc
        else KEEP,
        depends_on=_depends_on(doc["depends_on"]) if "depends_on" in doc else KEEP,
        labels=labels(doc["labels"]) if "labels" in doc else KEEP,
        expected_version=expected_version,
    )


def needs_anchor(doc: Doc) -> bool:
    """A FIXED_DELAY schedule's document without ``start_at``: it is anchored at its
    creation time."""
    trigger = doc.get("trigger")
    return (
        doc.get("start_at") is None
        and isinstance(trigger, Mapping)
        and str(trigger.get("type", "")).upper() == "FIXED_DELAY"
    )


def create_schedule(
    doc: Doc, *, tenant_id: TenantId, job_id: JobId | None = None, now: datetime | None = None
) -> CreateSchedule:
    """A new schedule from its document (``job_id`` given: the document names its job
    otherwise, as ``kairos apply`` does); fields left out take the schedule's defaults.
    ``now``: the creation time, the ``start_at`` of a FIXED_DELAY schedule that gives
    none (docs/semantics.md, *FIXED_DELAY*)."""
    if now is not None and needs_anchor(doc):
        doc = {**doc, "start_at": now.isoformat()}
    changes = update_schedule(
        doc, tenant_id=tenant_id, schedule_id=ScheduleId(uuid.UUID(int=0)), current=None
    )
    schedule_name = required(changes.name, "name")
    if job_id is None:
        job_id = required(changes.job_id, "job_id")
    timing = required(changes.timing, "trigger")  # a create always builds a timing
    default = CreateSchedule(tenant_id=tenant_id, name=schedule_name, job_id=job_id, timing=timing)
    return CreateSchedule(
        tenant_id=tenant_id,
        name=schedule_name,
        job_id=job_id,
        timing=timing,
        payload=given(changes.payload, default.payload),
        misfire_policy=given(changes.misfire_policy, default.misfire_policy),
        catchup_window=given(changes.catchup_window, default.catchup_window),
        max_catchup=given(changes.max_catchup, default.max_catchup),
        overlap_policy=given(changes.overlap_policy, default.overlap_policy),
        max_buffered=given(changes.max_buffered, default.max_buffered),
        depends_on=given(changes.depends_on, default.depends_on),
        labels=given(changes.labels, default.labels),
    )


# -- triggers and backfills -------------------------------------------------------------------

TRIGGER_FIELDS = frozenset({"payload", "overlap_policy"})
BACKFILL_FIELDS = frozenset({"from", "to", "max_runs", "overlap_policy", "ignore_calendar"})


def trigger_schedule(
    doc: Doc,
    *,
    tenant_id: TenantId,
    schedule_id: ScheduleId | None = None,
    schedule_name: str | None = None,
    idempotency_key: str | None,
) -> TriggerSchedule:
    """A manual trigger's options (REST body or NATS request)."""
    unknown = sorted(set(doc) - TRIGGER_FIELDS)
    if unknown:
        raise InvalidRequest(f"unknown field {unknown[0]!r}", field=unknown[0])
    payload = doc.get("payload", {})
    if not isinstance(payload, dict):
        raise InvalidRequest("payload must be an object", field="payload")
    bounds.document(payload, "payload")
    overlap = None
    if "overlap_policy" in doc:
        overlap = choice(OverlapPolicy, doc["overlap_policy"], "overlap_policy")
    if idempotency_key is not None:
        bounds.text(idempotency_key, "Idempotency-Key", maximum=bounds.MAX_IDEMPOTENCY_KEY)
    return TriggerSchedule(
        tenant_id=tenant_id,
        schedule_id=schedule_id,
        name=schedule_name,
        payload={str(k): v for k, v in payload.items()},
        overlap=overlap,
        idempotency_key=idempotency_key,
    )


def _instant_text(doc: Doc, key: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str):
        raise InvalidRequest(f"{key} is required: an instant like 2026-11-01T00:00:00Z", field=key)
    return value


def start_backfill(doc: Doc, *, tenant_id: TenantId, schedule_id: ScheduleId) -> BackfillRequest:
    """A backfill from its document: ``from`` and ``to`` (instants with an offset),
    optional ``max_runs``, ``overlap_policy``, ``ignore_calendar``."""
    refuse_unknown(doc, BACKFILL_FIELDS)
    start, end = _instant_text(doc, "from"), _instant_text(doc, "to")
    ignore = doc.get("ignore_calendar", False)
    if not isinstance(ignore, bool):
        raise InvalidRequest("ignore_calendar must be true or false", field="ignore_calendar")
    return BackfillRequest(
        tenant_id=tenant_id,
        schedule_id=schedule_id,
        from_at=parse_instant(start, field="from"),
        to_at=parse_instant(end, field="to"),
        max_runs=integer(doc["max_runs"], "max_runs", minimum=1, maximum=bounds.MAX_BACKFILL_RUNS)
        if "max_runs" in doc
        else DEFAULT_MAX_RUNS,
        overlap_policy=choice(OverlapPolicy, doc["overlap_policy"], "overlap_policy")
        if "overlap_policy" in doc
        else OverlapPolicy.BUFFER_ALL,
        ignore_calendar=ignore,
    )

"""Jobs and schedules as documents: what the REST API and ``kairos apply`` accept and
answer. Parsing is strict (unknown fields are refused) and every error names its field.

A schedule document is flat: the timing fields (``trigger``, ``timezone``, ``dst``,
``windows``, ...) sit next to ``name``, ``job`` and the policies.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from domain import bounds
from domain.backfill import DEFAULT_MAX_RUNS, Backfill, BackfillRequest
from domain.calendar import Calendar, CountryHolidays, Holiday, HolidaySource, ICalHolidays
from domain.durations import format_duration, parse_duration, parse_instant
from domain.errors import InvalidRequest
from domain.ids import JobId, ScheduleId, TenantId
from domain.job import Backoff, BackoffKind, Job, Priority, Target, TargetKind
from domain.limits import TenantLimits
from domain.ports import RunStats
from domain.run import Attempt, Run
from domain.schedule import MisfirePolicy, OverlapPolicy, Schedule
from domain.timing import SPEC_KEYS, Timing
from domain.usage import TenantUsage
from domain.worker import Worker

JOB_FIELDS = frozenset(
    {"name", "target", "max_attempts", "backoff", "timeout", "max_concurrency", "priority"}
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
SCHEDULE_FIELDS = frozenset({"name", "job_id", "payload"}) | POLICY_FIELDS | SPEC_KEYS


def require(fields: Mapping[str, Any], *names: str) -> None:
    """A create needs these fields (a PATCH does not)."""
    for name in names:
        if name not in fields:
            raise InvalidRequest(f"{name} is required", field=name)


def _refuse_unknown(doc: Mapping[str, Any], allowed: frozenset[str], where: str = "") -> None:
    if not isinstance(doc, Mapping):
        raise InvalidRequest("expected an object", field=where or "body")
    unknown = sorted(set(doc) - allowed)
    if unknown:
        raise InvalidRequest(f"unknown field {where}{unknown[0]!r}", field=where + unknown[0])


def _int(
    doc: Mapping[str, Any], key: str, *, minimum: int, maximum: int, optional: bool = False
) -> Any:
    value = doc[key]
    if value is None and optional:
        return None
    return bounds.integer(value, key, minimum=minimum, maximum=maximum)


SYSTEM_PREFIX = "system."  # names of Kairos' own jobs and schedules


def _name(value: Any, field: str = "name") -> str:
    name = bounds.text(value, field, maximum=bounds.MAX_NAME)
    if name.startswith(SYSTEM_PREFIX):
        raise InvalidRequest(f"names starting with {SYSTEM_PREFIX!r} are reserved", field="name")
    return name


def _user_kind(value: Any) -> TargetKind:
    kind: TargetKind = _choice(TargetKind, str(value).upper(), "target.kind")
    if kind is TargetKind.SYSTEM:
        raise InvalidRequest("target.kind SYSTEM is reserved for Kairos", field="target.kind")
    return kind


def _duration(value: Any, field: str, maximum: timedelta = bounds.MAX_DURATION) -> timedelta:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InvalidRequest(f"{field} must be a duration like 'PT5M', '30s' or 300", field=field)
    return bounds.duration(parse_duration(str(value), field=field), field, maximum=maximum)


def _choice(enum: Any, value: Any, field: str) -> Any:
    try:
        return enum[str(value).upper()] if enum is Priority else enum(value)
    except (KeyError, ValueError):
        names = [m.name.lower() for m in enum] if enum is Priority else [m.value for m in enum]
        raise InvalidRequest(f"{field} must be one of {names}", field=field) from None


# -- jobs -----------------------------------------------------------------------------------


def job_options(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Job fields from a (partial) document: only the keys given."""
    _refuse_unknown(doc, JOB_FIELDS)
    out: dict[str, Any] = {}
    if "name" in doc:
        out["name"] = _name(doc["name"])
    if "target" in doc:
        target = doc["target"]
        _refuse_unknown(target, frozenset({"kind", "config"}), "target.")
        config = target.get("config", {})
        if not isinstance(config, Mapping):
            raise InvalidRequest("target.config must be an object", field="target.config")
        bounds.document(config, "target.config")
        out["target"] = Target(
            kind=_user_kind(target.get("kind", "")),
            config=dict(config),
        )
    if "max_attempts" in doc:
        out["max_attempts"] = _int(doc, "max_attempts", minimum=1, maximum=bounds.MAX_ATTEMPTS)
    if "backoff" in doc:
        b = doc["backoff"]
        _refuse_unknown(b, frozenset({"kind", "initial", "multiplier", "max"}), "backoff.")
        default = Backoff()
        multiplier = bounds.number(
            b.get("multiplier", default.multiplier),
            "backoff.multiplier",
            minimum=1.0,
            maximum=bounds.MAX_BACKOFF_MULTIPLIER,
        )
        out["backoff"] = Backoff(
            kind=_choice(BackoffKind, b.get("kind", default.kind.value), "backoff.kind"),
            initial=_duration(b.get("initial", "PT1S"), "backoff.initial", bounds.MAX_BACKOFF),
            multiplier=multiplier,
            max=_duration(b.get("max", "PT5M"), "backoff.max", bounds.MAX_BACKOFF),
        )
    if "timeout" in doc:
        out["timeout"] = _duration(doc["timeout"], "timeout", bounds.MAX_TIMEOUT)
    if "max_concurrency" in doc:
        out["max_concurrency"] = _int(
            doc, "max_concurrency", minimum=1, maximum=bounds.MAX_CONCURRENCY, optional=True
        )
    if "priority" in doc:
        out["priority"] = _choice(Priority, doc["priority"], "priority")
    return out


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


def render_job(job: Job) -> dict[str, Any]:
    return {
        "id": str(job.id),
        "name": job.name,
        **job_document(job),
        # Never the values: they are shown once, when created.
        "secrets": [{"id": s.id, "created_at": s.created_at.isoformat()} for s in job.secrets],
        "disabled": job.disabled,
        "version": job.version,
        "created_at": job.created_at.isoformat(),
        "updated_at": job.updated_at.isoformat(),
    }


# -- schedules ------------------------------------------------------------------------------


def schedule_changes(doc: Mapping[str, Any], current: Timing | None = None) -> dict[str, Any]:
    """Schedule fields from a document. Timing fields are merged over ``current`` (a
    PATCH), or form a whole timing (a create, ``current`` None)."""
    _refuse_unknown(doc, SCHEDULE_FIELDS)
    out: dict[str, Any] = {}
    if "name" in doc:
        out["name"] = _name(doc["name"])
    if "job_id" in doc:
        out["job_id"] = JobId(_uuid(doc["job_id"], "job_id"))
    if "payload" in doc:
        if not isinstance(doc["payload"], Mapping):
            raise InvalidRequest("payload must be an object", field="payload")
        bounds.document(doc["payload"], "payload")
        out["payload"] = dict(doc["payload"])
    timing_doc = {k: v for k, v in doc.items() if k in SPEC_KEYS}
    if timing_doc or current is None:
        base = current.to_spec() if current is not None else {}
        out["timing"] = Timing.from_spec({**base, **timing_doc})
    if "misfire_policy" in doc:
        out["misfire_policy"] = _choice(MisfirePolicy, doc["misfire_policy"], "misfire_policy")
    if "catchup_window" in doc:
        out["catchup_window"] = _duration(
            doc["catchup_window"], "catchup_window", bounds.MAX_CATCHUP_WINDOW
        )
    if "max_catchup" in doc:
        out["max_catchup"] = _int(doc, "max_catchup", minimum=0, maximum=bounds.MAX_CATCHUP)
    if "overlap_policy" in doc:
        out["overlap_policy"] = _choice(OverlapPolicy, doc["overlap_policy"], "overlap_policy")
    if "max_buffered" in doc:
        out["max_buffered"] = _int(doc, "max_buffered", minimum=1, maximum=bounds.MAX_BUFFERED)
    if "depends_on" in doc:
        upstreams = doc["depends_on"]
        if not isinstance(upstreams, list) or len(upstreams) > bounds.MAX_DEPENDS_ON:
            raise InvalidRequest("depends_on must be a list of schedule ids", field="depends_on")
        out["depends_on"] = tuple(ScheduleId(_uuid(u, "depends_on")) for u in upstreams)
    return out


def _uuid(value: Any, field: str) -> Any:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise InvalidRequest(f"{field} must be a UUID", field=field) from None


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


def render_schedule(schedule: Schedule) -> dict[str, Any]:
    return {
        "id": str(schedule.id),
        "name": schedule.name,
        "job_id": str(schedule.job_id),
        "state": schedule.state.value,
        "state_reason": schedule.state_reason,
        "system": schedule.system,
        **schedule.timing.to_spec(),
        **schedule_policies(schedule),
        "next_fire_at": schedule.next_fire_at.isoformat() if schedule.next_fire_at else None,
        "fire_count": schedule.fire_count,
        "version": schedule.version,
        "created_at": schedule.created_at.isoformat(),
        "updated_at": schedule.updated_at.isoformat(),
    }


# -- calendars ------------------------------------------------------------------------------

CALENDAR_FIELDS = frozenset({"name", "business_days", "holidays", "sources"})
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOLIDAY_MAX = 5000
_ICAL_MAX = 1_000_000


def calendar_changes(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Calendar fields from a (partial) document: ``name``; ``business_days`` as weekday
    numbers (0 = Monday) or names (``mon``..``sun``); ``holidays`` as
    ``[{"date": "2026-12-24", "name": "..."}]``; ``sources`` as ``"DE-BY"``,
    ``{"country": "DE", "subdivision": "BY"}`` or ``{"ical": "<iCalendar text>"}``."""
    _refuse_unknown(doc, CALENDAR_FIELDS)
    out: dict[str, Any] = {}
    if "name" in doc:
        out["name"] = _name(doc["name"])
    if "business_days" in doc:
        out["business_days"] = _weekdays(doc["business_days"])
    if "holidays" in doc:
        out["holidays"] = _holidays(doc["holidays"])
    if "sources" in doc:
        raw = doc["sources"]
        if not isinstance(raw, list):
            raise InvalidRequest("sources must be a list", field="sources")
        out["sources"] = tuple(_source(item, f"sources[{i}]") for i, item in enumerate(raw))
    return out


def _weekdays(value: Any) -> frozenset[int]:
    if not isinstance(value, list) or not value:
        raise InvalidRequest("business_days must be a non-empty list", field="business_days")
    days = set()
    for item in value:
        if isinstance(item, int) and not isinstance(item, bool) and 0 <= item <= 6:
            days.add(item)
        elif isinstance(item, str) and item.lower()[:3] in _DAYS:
            days.add(_DAYS.index(item.lower()[:3]))
        else:
            raise InvalidRequest(
                f"{item!r} is not a weekday (0-6, 0 = Monday, or mon..sun)",
                field="business_days",
            )
    return frozenset(days)


def _holidays(value: Any) -> tuple[Holiday, ...]:
    if not isinstance(value, list) or len(value) > _HOLIDAY_MAX:
        raise InvalidRequest(f"holidays must be a list of at most {_HOLIDAY_MAX}", field="holidays")
    out = []
    for i, item in enumerate(value):
        where = f"holidays[{i}]"
        _refuse_unknown(item, frozenset({"date", "name"}), f"{where}.")
        try:
            day = date.fromisoformat(str(item.get("date")))
        except ValueError:
            raise InvalidRequest("date must be YYYY-MM-DD", field=f"{where}.date") from None
        name = bounds.text(item.get("name", "holiday"), f"{where}.name", maximum=bounds.MAX_NAME)
        out.append(Holiday(day=day, name=name))
    return tuple(out)


def _source(item: Any, where: str) -> HolidaySource:
    if isinstance(item, str):
        return CountryHolidays.parse(item)
    _refuse_unknown(item, frozenset({"country", "subdivision", "ical"}), f"{where}.")
    if "ical" in item:
        text = item["ical"]
        if not isinstance(text, str) or not text.strip() or len(text) > _ICAL_MAX:
            raise InvalidRequest("ical must be an iCalendar document", field=f"{where}.ical")
        bounds.text(text, f"{where}.ical", maximum=_ICAL_MAX)
        return ICalHolidays(text=text)
    country = item.get("country")
    if not isinstance(country, str) or len(country) > 10:
        raise InvalidRequest("country is required, e.g. DE", field=f"{where}.country")
    subdivision = item.get("subdivision")
    if subdivision is not None and (not isinstance(subdivision, str) or len(subdivision) > 10):
        raise InvalidRequest("subdivision must be a string", field=f"{where}.subdivision")
    return CountryHolidays.parse(f"{country}-{subdivision}" if subdivision else country)


def render_calendar(calendar: Calendar) -> dict[str, Any]:
    sources: list[Any] = [
        str(s) if isinstance(s, CountryHolidays) else {"ical": s.text} for s in calendar.sources
    ]
    return {
        "id": str(calendar.id),
        "name": calendar.name,
        "version": calendar.version,
        "business_days": [_DAYS[d] for d in sorted(calendar.business_days)],
        "holidays": [{"date": h.day.isoformat(), "name": h.name} for h in calendar.holidays],
        "sources": sources,
        "created_at": calendar.created_at.isoformat(),
        "updated_at": calendar.updated_at.isoformat(),
    }


# -- triggers -------------------------------------------------------------------------------


_TRIGGER_FIELDS = frozenset({"payload", "overlap_policy"})


def trigger_options(body: Mapping[str, Any], key: str | None) -> dict[str, Any]:
    """A manual trigger's options (REST body or NATS request), as ``trigger_schedule``
    keywords."""
    unknown = sorted(set(body) - _TRIGGER_FIELDS)
    if unknown:
        raise InvalidRequest(f"unknown field {unknown[0]!r}", field=unknown[0])
    payload = body.get("payload", {})
    if not isinstance(payload, dict):
        raise InvalidRequest("payload must be an object", field="payload")
    bounds.document(payload, "payload")
    overlap = None
    if "overlap_policy" in body:
        try:
            overlap = OverlapPolicy(body["overlap_policy"])
        except ValueError:
            choices = [p.value for p in OverlapPolicy]
            raise InvalidRequest(
                f"overlap_policy must be one of {choices}", field="overlap_policy"
            ) from None
    if key is not None:
        bounds.text(key, "Idempotency-Key", maximum=bounds.MAX_IDEMPOTENCY_KEY)
    return {"payload": payload, "overlap": overlap, "idempotency_key": key}


# -- backfills ------------------------------------------------------------------------------

_BACKFILL_FIELDS = frozenset({"from", "to", "max_runs", "overlap_policy", "ignore_calendar"})


def backfill_request(
    doc: Mapping[str, Any], *, tenant_id: TenantId, schedule_id: ScheduleId
) -> BackfillRequest:
    """A backfill request from its document: ``from`` and ``to`` (instants with an
    offset), optional ``max_runs``, ``overlap_policy``, ``ignore_calendar``."""
    _refuse_unknown(doc, _BACKFILL_FIELDS)
    for key in ("from", "to"):
        if not isinstance(doc.get(key), str):
            raise InvalidRequest(
                f"{key} is required: an instant like 2026-11-01T00:00:00Z", field=key
            )
    ignore = doc.get("ignore_calendar", False)
    if not isinstance(ignore, bool):
        raise InvalidRequest("ignore_calendar must be true or false", field="ignore_calendar")
    return BackfillRequest(
        tenant_id=tenant_id,
        schedule_id=schedule_id,
        from_at=parse_instant(doc["from"], field="from"),
        to_at=parse_instant(doc["to"], field="to"),
        max_runs=_int(doc, "max_runs", minimum=1, maximum=bounds.MAX_BACKFILL_RUNS)
        if "max_runs" in doc
        else DEFAULT_MAX_RUNS,
        overlap_policy=_choice(OverlapPolicy, doc["overlap_policy"], "overlap_policy")
        if "overlap_policy" in doc
        else OverlapPolicy.BUFFER_ALL,
        ignore_calendar=ignore,
    )


def render_backfill(
    backfill: Backfill, progress: Mapping[str, int] | None = None
) -> dict[str, Any]:
    request = backfill.request
    out: dict[str, Any] = {
        "id": str(backfill.id),
        "schedule_id": str(request.schedule_id),
        "from": request.from_at.isoformat(),
        "to": request.to_at.isoformat(),
        "max_runs": request.max_runs,
        "overlap_policy": request.overlap_policy.value,
        "ignore_calendar": request.ignore_calendar,
        "planned": backfill.planned,
        "created": backfill.created,
        "rearmed": backfill.rearmed,
        "existing": backfill.existing,
        "next_from": backfill.next_from.isoformat() if backfill.next_from else None,
        "created_at": backfill.created_at.isoformat(),
    }
    if progress is not None:
        runs = backfill.created + backfill.rearmed
        ended = sum(n for status, n in progress.items() if status in _ENDED)
        out["progress"] = {"runs": runs, "ended": ended, "by_status": dict(progress)}
    return out


_ENDED = frozenset({"succeeded", "dead", "cancelled", "missed", "skipped"})


# -- statistics ------------------------------------------------------------------------------


def render_usage(usage: TenantUsage, limits: TenantLimits) -> dict[str, Any]:
    return {
        "tenant_id": usage.tenant_id,
        "schedules": {
            "live": usage.schedules,
            "enabled": usage.enabled,
            "limit": limits.max_schedules,
        },
        "jobs": usage.jobs,
        "runs": {
            "running": usage.running,
            "running_limit": limits.max_running,
            "queued": usage.queued,
            "waiting": usage.waiting,
            "ended": dict(usage.ended),
        },
        "workers": usage.workers,
    }


def render_stats(stats: RunStats, since: datetime) -> dict[str, Any]:
    def ms(seconds: float | None) -> float | None:
        return None if seconds is None else round(seconds * 1000, 3)

    return {
        "since": since.isoformat(),
        "runs": sum(stats.counts.values()),
        "by_status": dict(stats.counts),
        "success_rate": stats.success_rate,
        "duration_ms": {"p50": ms(stats.duration_p50), "p95": ms(stats.duration_p95)},
        "lateness_ms": {"p50": ms(stats.lateness_p50), "p95": ms(stats.lateness_p95)},
    }


# -- runs -----------------------------------------------------------------------------------


def render_run(run: Run, *, attempts: bool = False) -> dict[str, Any]:
    def iso(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    out: dict[str, Any] = {
        "id": str(run.id),
        "schedule_id": str(run.schedule_id),
        "job_id": str(run.job_id),
        "nominal_at": iso(run.nominal_at),
        "dispatch_at": iso(run.dispatch_at),
        "status": run.status.value,
        "reason": run.reason,
        "missed_count": run.missed_count,
        "origin": run.origin.value,
        "backfill_id": str(run.backfill_id) if run.backfill_id else None,
        "calendar": {"id": str(run.calendar[0]), "version": run.calendar[1]}
        if run.calendar
        else None,
        "attempt": run.attempt,
        "max_attempts": run.max_attempts,
        "priority": run.priority.name.lower(),
        "available_at": iso(run.available_at),
        "lease_until": iso(run.lease_until),
        "timeout_at": iso(run.timeout_at),
        "worker_id": str(run.worker_id) if run.worker_id else None,
        "cancel_requested": run.cancel_requested,
        "payload": dict(run.payload),
        "tzdata_version": run.tzdata_version,
        "created_at": iso(run.created_at),
        "updated_at": iso(run.updated_at),
    }
    if attempts:
        out["attempts"] = [_attempt(a) for a in run.attempts]
    return out


def _attempt(a: Attempt) -> dict[str, Any]:
    duration = a.duration
    return {
        "number": a.number,
        "worker_id": str(a.worker_id),
        "started_at": a.started_at.isoformat(),
        "ended_at": a.ended_at.isoformat() if a.ended_at else None,
        "outcome": a.outcome.value if a.outcome else None,
        "error": a.error,
        "duration_ms": round(duration.total_seconds() * 1000, 3) if duration else None,
        "response": dict(a.detail) if a.detail is not None else None,
    }


# -- workers --------------------------------------------------------------------------------

WORKER_FIELDS = frozenset(
    {"name", "capabilities", "capacity", "version", "labels", "heartbeat_interval"}
)
MIN_LEASE, MAX_LEASE = timedelta(seconds=5), timedelta(minutes=10)


def worker_registration(doc: Mapping[str, Any]) -> dict[str, Any]:
    """``POST /workers/register``: what the worker says of itself."""
    _refuse_unknown(doc, WORKER_FIELDS)
    require(doc, "name", "capabilities")
    caps = doc["capabilities"]
    if not isinstance(caps, list) or len(caps) > bounds.MAX_CAPABILITIES:
        raise InvalidRequest(
            "capabilities must be a list of job types or target kinds", field="capabilities"
        )
    for i, cap in enumerate(caps):
        bounds.text(cap, f"capabilities[{i}]", maximum=bounds.MAX_CAPABILITY)
    if "SYSTEM" in caps:
        raise InvalidRequest("capability SYSTEM is reserved for Kairos", field="capabilities")
    labels = doc.get("labels", {})
    if not isinstance(labels, Mapping) or len(labels) > bounds.MAX_LABELS:
        raise InvalidRequest(
            f"labels must be an object of at most {bounds.MAX_LABELS} strings", field="labels"
        )
    for key, value in labels.items():
        bounds.text(key, "labels", maximum=bounds.MAX_KEY)
        bounds.text(value, f"labels.{key}", maximum=bounds.MAX_LABEL_VALUE, empty=True)
    name = bounds.text(doc["name"], "name", maximum=bounds.MAX_NAME)
    version = bounds.text(doc.get("version", ""), "version", maximum=bounds.MAX_VERSION, empty=True)
    out: dict[str, Any] = {
        "name": name,
        "capabilities": frozenset(caps),
        "capacity": _int(doc, "capacity", minimum=1, maximum=bounds.MAX_CAPACITY)
        if "capacity" in doc
        else 1,
        "version": version,
        "labels": dict(labels),
    }
    if "heartbeat_interval" in doc:
        interval = _duration(doc["heartbeat_interval"], "heartbeat_interval")
        if not timedelta(seconds=1) <= interval <= timedelta(minutes=5):
            raise InvalidRequest("heartbeat_interval must be 1s..5m", field="heartbeat_interval")
        out["heartbeat_interval"] = interval
    return out


def lease_option(doc: Mapping[str, Any], default: timedelta) -> timedelta:
    if doc.get("lease") is None:
        return default
    lease = _duration(doc["lease"], "lease")
    if not MIN_LEASE <= lease <= MAX_LEASE:
        raise InvalidRequest("lease must be 5s..10m", field="lease")
    return lease


def held_runs(doc: Mapping[str, Any]) -> dict[Any, str]:
    """A heartbeat's ``held``: run id -> lease token."""
    held = doc.get("held", {})
    if not isinstance(held, Mapping) or len(held) > 10_000:
        raise InvalidRequest("held must map run ids to lease tokens", field="held")
    out = {}
    for key, token in held.items():
        if not isinstance(token, str) or not 0 < len(token) <= 64:
            raise InvalidRequest(f"held[{key}]: the lease token is a string", field="held")
        out[_uuid(key, f"held[{key}]")] = token
    return out


def render_worker(worker: Worker) -> dict[str, Any]:
    return {
        "id": str(worker.id),
        "name": worker.name,
        "capabilities": sorted(worker.capabilities),
        "capacity": worker.capacity,
        "version": worker.version,
        "labels": dict(worker.labels),
        "state": worker.state.value,
        "heartbeat_interval": format_duration(worker.heartbeat_interval),
        "registered_at": worker.registered_at.isoformat(),
        "last_heartbeat_at": worker.last_heartbeat_at.isoformat(),
    }


def render_claimed(run: Run, job: Job | None) -> dict[str, Any]:
    """A run as an external worker receives it: what to do and the lease to do it under.
    A job's signing secrets never leave Kairos."""
    return {
        "run_id": str(run.id),
        "lease_token": run.lease_secret,
        "lease_until": run.lease_until.isoformat() if run.lease_until else None,
        "timeout_at": run.timeout_at.isoformat() if run.timeout_at else None,
        "attempt": run.attempt,
        "max_attempts": run.max_attempts,
        "schedule_id": str(run.schedule_id),
        "nominal_at": run.nominal_at.isoformat(),
        "origin": run.origin.value,
        "priority": run.priority.name.lower(),
        "type": run.capability,
        "payload": dict(run.payload),
        "job": None
        if job is None
        else {
            "id": str(job.id),
            "name": job.name,
            "target": {"kind": job.target.kind.value, "config": dict(job.target.config)},
        },
    }

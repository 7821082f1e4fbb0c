"""Requests' meaning, checked once for the REST API and ``kairos apply``: a request
document (the fields a caller sent, after ``requests.py`` typed the transport) becomes a
typed command (``commands.py``), or an error naming its field.

Parsing is strict (unknown fields are refused) and applies the limits of
``domain.bounds``. A schedule document is flat: the timing fields (``trigger``,
``timezone``, ``dst``, ``windows``, ...) sit next to ``name``, ``job_id`` and the
policies; the domain's ``Timing.from_spec`` reads them.
"""

from __future__ import annotations

import enum
import json
import uuid
from collections.abc import Mapping
from datetime import date, timedelta
from typing import TypeVar

from domain import bounds
from domain.backfill import DEFAULT_MAX_RUNS, BackfillRequest
from domain.calendar import CountryHolidays, Holiday, HolidaySource, ICalHolidays
from domain.changes import KEEP, Keep
from domain.durations import parse_duration, parse_instant
from domain.errors import InvalidRequest
from domain.ids import CalendarId, JobId, RunId, ScheduleId, TenantId
from domain.job import Backoff, BackoffKind, Priority, Target, TargetKind
from domain.schedule import MisfirePolicy, OverlapPolicy
from domain.timing import SPEC_KEYS, Timing
from domain.worker import DEFAULT_HEARTBEAT
from service.usecases.commands import (
    CreateCalendar,
    CreateJob,
    CreateSchedule,
    RegisterWorker,
    ReportRun,
    ReviseJob,
    TriggerSchedule,
    UpdateCalendar,
    UpdateSchedule,
)

Doc = Mapping[str, object]
E = TypeVar("E", bound=enum.Enum)

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
SYSTEM_PREFIX = "system."  # names of Kairos' own jobs and schedules


def require(doc: Doc, *names: str) -> None:
    """A create needs these fields (a PATCH does not)."""
    for name in names:
        if name not in doc:
            raise InvalidRequest(f"{name} is required", field=name)


def refuse_unknown(doc: object, allowed: frozenset[str], where: str = "") -> Doc:
    """``doc`` as an object of known fields."""
    if not isinstance(doc, Mapping):
        raise InvalidRequest("expected an object", field=where or "body")
    unknown = sorted(set(doc) - allowed)
    if unknown:
        raise InvalidRequest(f"unknown field {where}{unknown[0]!r}", field=where + unknown[0])
    return doc


def integer(value: object, field: str, *, minimum: int, maximum: int) -> int:
    return bounds.integer(value, field, minimum=minimum, maximum=maximum)


def name(value: object, field: str = "name") -> str:
    found = bounds.text(value, field, maximum=bounds.MAX_NAME)
    if found.startswith(SYSTEM_PREFIX):
        raise InvalidRequest(f"names starting with {SYSTEM_PREFIX!r} are reserved", field="name")
    return found


def duration(value: object, field: str, maximum: timedelta = bounds.MAX_DURATION) -> timedelta:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InvalidRequest(f"{field} must be a duration like 'PT5M', '30s' or 300", field=field)
    return bounds.duration(parse_duration(str(value), field=field), field, maximum=maximum)


def choice(enum_type: type[E], value: object, field: str) -> E:
    """A member of ``enum_type`` by its value."""
    for member in enum_type:
        if member.value == value:
            return member
    names = [m.value for m in enum_type]
    raise InvalidRequest(f"{field} must be one of {names}", field=field) from None


def priority(value: object, field: str = "priority") -> Priority:
    """A priority by its lower-case name (``low`` .. ``critical``)."""
    try:
        return Priority[str(value).upper()]
    except KeyError:
        names = [m.name.lower() for m in Priority]
        raise InvalidRequest(f"{field} must be one of {names}", field=field) from None


def object_of(value: object, field: str) -> dict[str, object]:
    if not isinstance(value, Mapping):
        raise InvalidRequest(f"{field} must be an object", field=field)
    bounds.document(value, field)
    return {str(k): v for k, v in value.items()}


def uuid_of(value: object, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise InvalidRequest(f"{field} must be a UUID", field=field) from None


# -- jobs -------------------------------------------------------------------------------------


def _target(value: object) -> Target:
    doc = refuse_unknown(value, frozenset({"kind", "config"}), "target.")
    config = doc.get("config", {})
    if not isinstance(config, Mapping):
        raise InvalidRequest("target.config must be an object", field="target.config")
    bounds.document(config, "target.config")
    kind = choice(TargetKind, str(doc.get("kind", "")).upper(), "target.kind")
    if kind is TargetKind.SYSTEM:
        raise InvalidRequest("target.kind SYSTEM is reserved for Kairos", field="target.kind")
    return Target(kind=kind, config={str(k): v for k, v in config.items()})


def _backoff(value: object) -> Backoff:
    doc = refuse_unknown(value, frozenset({"kind", "initial", "multiplier", "max"}), "backoff.")
    default = Backoff()
    multiplier = bounds.number(
        doc.get("multiplier", default.multiplier),
        "backoff.multiplier",
        minimum=1.0,
        maximum=bounds.MAX_BACKOFF_MULTIPLIER,
    )
    return Backoff(
        kind=choice(BackoffKind, doc.get("kind", default.kind.value), "backoff.kind"),
        initial=duration(doc.get("initial", "PT1S"), "backoff.initial", bounds.MAX_BACKOFF),
        multiplier=multiplier,
        max=duration(doc.get("max", "PT5M"), "backoff.max", bounds.MAX_BACKOFF),
    )


def _concurrency(value: object) -> int | None:
    if value is None:
        return None
    return integer(value, "max_concurrency", minimum=1, maximum=bounds.MAX_CONCURRENCY)


def revise_job(doc: Doc, *, tenant_id: TenantId, job_id: JobId) -> ReviseJob:
    """A job's changes from a (partial) document: only the keys given."""
    refuse_unknown(doc, JOB_FIELDS)
    return ReviseJob(
        tenant_id=tenant_id,
        job_id=job_id,
        name=name(doc["name"]) if "name" in doc else KEEP,
        target=_target(doc["target"]) if "target" in doc else KEEP,
        max_attempts=integer(
            doc["max_attempts"], "max_attempts", minimum=1, maximum=bounds.MAX_ATTEMPTS
        )
        if "max_attempts" in doc
        else KEEP,
        backoff=_backoff(doc["backoff"]) if "backoff" in doc else KEEP,
        timeout=duration(doc["timeout"], "timeout", bounds.MAX_TIMEOUT)
        if "timeout" in doc
        else KEEP,
        max_concurrency=_concurrency(doc["max_concurrency"]) if "max_concurrency" in doc else KEEP,
        priority=priority(doc["priority"]) if "priority" in doc else KEEP,
    )


def create_job(doc: Doc, *, tenant_id: TenantId) -> CreateJob:
    """A new job from its document; fields left out take the job's defaults."""
    changes = revise_job(doc, tenant_id=tenant_id, job_id=JobId(uuid.UUID(int=0)))
    job_name, target = _required(changes.name, "name"), _required(changes.target, "target")
    default = CreateJob(tenant_id=tenant_id, name=job_name, target=target)
    return CreateJob(
        tenant_id=tenant_id,
        name=job_name,
        target=target,
        max_attempts=_given(changes.max_attempts, default.max_attempts),
        backoff=_given(changes.backoff, default.backoff),
        timeout=_given(changes.timeout, default.timeout),
        max_concurrency=_given(changes.max_concurrency, default.max_concurrency),
        priority=_given(changes.priority, default.priority),
    )


T = TypeVar("T")


def _given(value: T | Keep, default: T) -> T:
    return default if isinstance(value, Keep) else value


def _required(value: T | Keep, field: str) -> T:
    """A field a create needs (a PATCH does not)."""
    if isinstance(value, Keep):
        raise InvalidRequest(f"{field} is required", field=field)
    return value


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
    timing_doc = {k: v for k, v in doc.items() if k in SPEC_KEYS}
    timing: Timing | Keep = KEEP
    if timing_doc or current is None:
        base = current.to_spec() if current is not None else {}
        timing = Timing.from_spec({**base, **timing_doc})
    return UpdateSchedule(
        tenant_id=tenant_id,
        schedule_id=schedule_id,
        name=name(doc["name"]) if "name" in doc else KEEP,
        job_id=JobId(uuid_of(doc["job_id"], "job_id")) if "job_id" in doc else KEEP,
        payload=object_of(doc["payload"], "payload") if "payload" in doc else KEEP,
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
        expected_version=expected_version,
    )


def create_schedule(
    doc: Doc, *, tenant_id: TenantId, job_id: JobId | None = None
) -> CreateSchedule:
    """A new schedule from its document (``job_id`` given: the document names its job
    otherwise, as ``kairos apply`` does); fields left out take the schedule's defaults."""
    changes = update_schedule(
        doc, tenant_id=tenant_id, schedule_id=ScheduleId(uuid.UUID(int=0)), current=None
    )
    schedule_name = _required(changes.name, "name")
    if job_id is None:
        job_id = _required(changes.job_id, "job_id")
    timing = _required(changes.timing, "trigger")  # a create always builds a timing
    default = CreateSchedule(tenant_id=tenant_id, name=schedule_name, job_id=job_id, timing=timing)
    return CreateSchedule(
        tenant_id=tenant_id,
        name=schedule_name,
        job_id=job_id,
        timing=timing,
        payload=_given(changes.payload, default.payload),
        misfire_policy=_given(changes.misfire_policy, default.misfire_policy),
        catchup_window=_given(changes.catchup_window, default.catchup_window),
        max_catchup=_given(changes.max_catchup, default.max_catchup),
        overlap_policy=_given(changes.overlap_policy, default.overlap_policy),
        max_buffered=_given(changes.max_buffered, default.max_buffered),
        depends_on=_given(changes.depends_on, default.depends_on),
    )


# -- calendars --------------------------------------------------------------------------------

CALENDAR_FIELDS = frozenset({"name", "business_days", "holidays", "sources"})
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOLIDAY_MAX = 5000
_ICAL_MAX = 1_000_000


def update_calendar(doc: Doc, *, tenant_id: TenantId, calendar_id: CalendarId) -> UpdateCalendar:
    """Calendar changes from a (partial) document: ``name``; ``business_days`` as weekday
    numbers (0 = Monday) or names (``mon``..``sun``); ``holidays`` as
    ``[{"date": "2026-12-24", "name": "..."}]``; ``sources`` as ``"DE-BY"``,
    ``{"country": "DE", "subdivision": "BY"}`` or ``{"ical": "<iCalendar text>"}``."""
    refuse_unknown(doc, CALENDAR_FIELDS)
    sources: tuple[HolidaySource, ...] | Keep = KEEP
    if "sources" in doc:
        raw = doc["sources"]
        if not isinstance(raw, list):
            raise InvalidRequest("sources must be a list", field="sources")
        sources = tuple(_source(item, f"sources[{i}]") for i, item in enumerate(raw))
    return UpdateCalendar(
        tenant_id=tenant_id,
        calendar_id=calendar_id,
        name=name(doc["name"]) if "name" in doc else KEEP,
        business_days=_weekdays(doc["business_days"]) if "business_days" in doc else KEEP,
        holidays=_holidays(doc["holidays"]) if "holidays" in doc else KEEP,
        sources=sources,
    )


def create_calendar(doc: Doc, *, tenant_id: TenantId) -> CreateCalendar:
    changes = update_calendar(doc, tenant_id=tenant_id, calendar_id=CalendarId(uuid.UUID(int=0)))
    calendar_name = _required(changes.name, "name")
    default = CreateCalendar(tenant_id=tenant_id, name=calendar_name)
    return CreateCalendar(
        tenant_id=tenant_id,
        name=calendar_name,
        business_days=_given(changes.business_days, default.business_days),
        holidays=_given(changes.holidays, default.holidays),
        sources=_given(changes.sources, default.sources),
    )


def _weekdays(value: object) -> frozenset[int]:
    if not isinstance(value, list) or not value:
        raise InvalidRequest("business_days must be a non-empty list", field="business_days")
    days = set()
    for item in value:
        if isinstance(item, int) and not isinstance(item, bool) and 0 <= item <= 6:
            days.add(item)
        elif isinstance(item, str) and item.lower()[:3] in DAYS:
            days.add(DAYS.index(item.lower()[:3]))
        else:
            raise InvalidRequest(
                f"{item!r} is not a weekday (0-6, 0 = Monday, or mon..sun)",
                field="business_days",
            )
    return frozenset(days)


def _holidays(value: object) -> tuple[Holiday, ...]:
    if not isinstance(value, list) or len(value) > _HOLIDAY_MAX:
        raise InvalidRequest(f"holidays must be a list of at most {_HOLIDAY_MAX}", field="holidays")
    out = []
    for i, item in enumerate(value):
        where = f"holidays[{i}]"
        entry = refuse_unknown(item, frozenset({"date", "name"}), f"{where}.")
        try:
            day = date.fromisoformat(str(entry.get("date")))
        except ValueError:
            raise InvalidRequest("date must be YYYY-MM-DD", field=f"{where}.date") from None
        title = bounds.text(entry.get("name", "holiday"), f"{where}.name", maximum=bounds.MAX_NAME)
        out.append(Holiday(day=day, name=title))
    return tuple(out)


def _source(item: object, where: str) -> HolidaySource:
    if isinstance(item, str):
        return CountryHolidays.parse(item)
    entry = refuse_unknown(item, frozenset({"country", "subdivision", "ical"}), f"{where}.")
    if "ical" in entry:
        text = entry["ical"]
        if not isinstance(text, str) or not text.strip() or len(text) > _ICAL_MAX:
            raise InvalidRequest("ical must be an iCalendar document", field=f"{where}.ical")
        bounds.text(text, f"{where}.ical", maximum=_ICAL_MAX)
        return ICalHolidays(text=text)
    country = entry.get("country")
    if not isinstance(country, str) or len(country) > 10:
        raise InvalidRequest("country is required, e.g. DE", field=f"{where}.country")
    subdivision = entry.get("subdivision")
    if subdivision is not None and (not isinstance(subdivision, str) or len(subdivision) > 10):
        raise InvalidRequest("subdivision must be a string", field=f"{where}.subdivision")
    return CountryHolidays.parse(f"{country}-{subdivision}" if subdivision else country)


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


# -- the external worker protocol -------------------------------------------------------------

WORKER_FIELDS = frozenset(
    {"name", "capabilities", "capacity", "version", "labels", "heartbeat_interval"}
)
MIN_LEASE, MAX_LEASE = timedelta(seconds=5), timedelta(minutes=10)
MAX_HELD = 10_000
MAX_DETAIL = 4096


def register_worker(doc: Doc, *, tenant_id: TenantId) -> RegisterWorker:
    """``POST /workers/register``: what the worker says of itself."""
    refuse_unknown(doc, WORKER_FIELDS)
    require(doc, "name", "capabilities")
    caps = doc["capabilities"]
    if not isinstance(caps, list) or len(caps) > bounds.MAX_CAPABILITIES:
        raise InvalidRequest(
            "capabilities must be a list of job types or target kinds", field="capabilities"
        )
    capabilities = [
        bounds.text(cap, f"capabilities[{i}]", maximum=bounds.MAX_CAPABILITY)
        for i, cap in enumerate(caps)
    ]
    if "SYSTEM" in capabilities:
        raise InvalidRequest("capability SYSTEM is reserved for Kairos", field="capabilities")
    labels = doc.get("labels", {})
    if not isinstance(labels, Mapping) or len(labels) > bounds.MAX_LABELS:
        raise InvalidRequest(
            f"labels must be an object of at most {bounds.MAX_LABELS} strings", field="labels"
        )
    checked = {
        bounds.text(key, "labels", maximum=bounds.MAX_KEY): bounds.text(
            value, f"labels.{key}", maximum=bounds.MAX_LABEL_VALUE, empty=True
        )
        for key, value in labels.items()
    }
    interval = DEFAULT_HEARTBEAT
    if "heartbeat_interval" in doc:
        interval = duration(doc["heartbeat_interval"], "heartbeat_interval")
        if not timedelta(seconds=1) <= interval <= timedelta(minutes=5):
            raise InvalidRequest("heartbeat_interval must be 1s..5m", field="heartbeat_interval")
    return RegisterWorker(
        tenant_id=tenant_id,
        name=bounds.text(doc["name"], "name", maximum=bounds.MAX_NAME),
        capabilities=frozenset(capabilities),
        capacity=integer(doc["capacity"], "capacity", minimum=1, maximum=bounds.MAX_CAPACITY)
        if "capacity" in doc
        else 1,
        version=bounds.text(
            doc.get("version", ""), "version", maximum=bounds.MAX_VERSION, empty=True
        ),
        labels=checked,
        heartbeat_interval=interval,
    )


def lease(doc: Doc, default: timedelta) -> timedelta:
    if doc.get("lease") is None:
        return default
    found = duration(doc["lease"], "lease")
    if not MIN_LEASE <= found <= MAX_LEASE:
        raise InvalidRequest("lease must be 5s..10m", field="lease")
    return found


def held_runs(doc: Doc) -> dict[RunId, str]:
    """A heartbeat's ``held``: run id -> lease token."""
    held = doc.get("held", {})
    if not isinstance(held, Mapping) or len(held) > MAX_HELD:
        raise InvalidRequest("held must map run ids to lease tokens", field="held")
    out = {}
    for key, token in held.items():
        if not isinstance(token, str) or not 0 < len(token) <= 64:
            raise InvalidRequest(f"held[{key}]: the lease token is a string", field="held")
        out[RunId(uuid_of(key, f"held[{key}]"))] = token
    return out


def bounded(value: object, field: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise InvalidRequest(f"{field} must be a number in {low:g}..{high:g}", field=field)
    return float(value)


def _seconds(value: object, field: str) -> timedelta | None:
    if value is None:
        return None
    return timedelta(seconds=bounded(value, field, 0, 86_400))


def _token_and_detail(doc: Doc, allowed: frozenset[str]) -> tuple[str, dict[str, object] | None]:
    unknown = sorted(set(doc) - allowed)
    if unknown:
        raise InvalidRequest(f"unknown field {unknown[0]!r}", field=unknown[0])
    token = doc.get("token")
    if not isinstance(token, str) or not token:
        raise InvalidRequest("token (the run's lease token) is required", field="token")
    detail = doc.get("detail")
    if detail is None:
        return token, None
    if not isinstance(detail, Mapping) or len(json.dumps(detail)) > MAX_DETAIL:
        raise InvalidRequest("detail must be an object of at most 4 KiB", field="detail")
    return token, {str(k): v for k, v in detail.items()}


_OUTCOME = frozenset({"token", "error", "retry_after", "detail"})


def report_run(doc: Doc, *, run_id: RunId, failed: bool) -> ReportRun:
    """``POST /runs/{id}/complete`` (``failed`` False) or ``/fail``."""
    if not failed:
        token, detail = _token_and_detail(doc, frozenset({"token", "detail"}))
        return ReportRun(run_id=run_id, token=token, detail=detail)
    token, detail = _token_and_detail(doc, _OUTCOME)
    error = doc.get("error")
    if not isinstance(error, str) or not error.strip():
        raise InvalidRequest("error (a message) is required", field="error")
    return ReportRun(
        run_id=run_id,
        token=token,
        error=error[: bounds.MAX_ERROR],
        retry_after=_seconds(doc.get("retry_after"), "retry_after"),
        detail=detail,
    )


def batch_outcome(item: object, i: int) -> ReportRun:
    """One outcome of ``POST /workers/{id}/report``; errors name ``outcomes[i].field``."""
    if not isinstance(item, Mapping):
        raise InvalidRequest(f"outcomes[{i}] must be an object", field=f"outcomes[{i}]")
    body = {str(k): v for k, v in item.items() if k != "run_id"}
    try:
        token, detail = _token_and_detail(body, _OUTCOME)
        run_id = uuid.UUID(str(item.get("run_id")))
    except InvalidRequest as exc:
        where = f"outcomes[{i}].{exc.details.get('field', '')}"
        raise InvalidRequest(f"{where}: {exc.message}", field=where) from None
    except ValueError:
        where = f"outcomes[{i}].run_id"
        raise InvalidRequest(f"{where} must be a UUID", field=where) from None
    error = body.get("error")
    if error is not None and (not isinstance(error, str) or not error.strip()):
        where = f"outcomes[{i}].error"
        raise InvalidRequest(f"{where} must be a message", field=where)
    return ReportRun(
        run_id=RunId(run_id),
        token=token,
        error=None if error is None else error[: bounds.MAX_ERROR],
        retry_after=_seconds(body.get("retry_after"), f"outcomes[{i}].retry_after"),
        detail=detail,
    )

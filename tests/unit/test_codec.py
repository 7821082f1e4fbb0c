"""The stored documents (``adapters.postgres.codec``): every aggregate round-trips, and
documents as the earlier codec wrote them (literal fixtures below) still load and are
written back unchanged."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from adapters import jsonfast
from adapters.postgres.codec import (
    calendar_document,
    calendar_from_document,
    job_document,
    job_from_document,
    reloaded_calendar,
    reloaded_job,
    reloaded_schedule,
    schedule_document,
    schedule_from_document,
)
from domain.calendar import Calendar, CountryHolidays, Holiday, ICalHolidays
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
)
from domain.windows import ExecutionWindow

T = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
ACME = TenantId("acme")

JOBS = [
    Job(
        id=JobId(uuid.UUID(int=1)),
        tenant_id=ACME,
        name="http",
        target=Target(
            kind=TargetKind.HTTP, config={"url": "https://example.com/hook", "method": "POST"}
        ),
        max_attempts=5,
        backoff=Backoff(
            kind=BackoffKind.FIXED,
            initial=timedelta(seconds=2),
            multiplier=1.5,
            max=timedelta(minutes=1),
        ),
        timeout=timedelta(seconds=90),
        max_concurrency=4,
        priority=Priority.CRITICAL,
        secrets=(SealedSecret(id="k1", sealed="c2VhbGVk", created_at=T),),
        disabled="410 Gone",
        created_at=T,
        updated_at=T,
    ),
    Job(
        id=JobId(uuid.UUID(int=2)),
        tenant_id=ACME,
        name="worker",
        target=Target(kind=TargetKind.WORKER, config={"type": "reports.generate"}),
        created_at=T,
        updated_at=T,
    ),
]

TIMINGS = [
    Timing(
        trigger=CronTrigger.parse("*/5 9-17 * * MON-FRI"),
        timezone="Europe/Berlin",
        dst=DstPolicy(gap=GapPolicy.SKIP, fold=FoldPolicy.BOTH),
        start_at=T,
        end_at=T + timedelta(days=30),
        max_fires=10,
        calendar_id=CalendarId(uuid.UUID(int=7)),
        calendar_policy=CalendarPolicy.NEXT_BUSINESS_DAY,
        windows=(ExecutionWindow.parse("mon-fri 08:00-18:00"),),
        window_policy=WindowPolicy.SKIP,
        max_jitter=timedelta(seconds=30),
    ),
    Timing(
        trigger=RRuleTrigger.parse("FREQ=WEEKLY;BYDAY=MO"), timezone="America/New_York", start_at=T
    ),
    Timing(trigger=FixedDelayTrigger(every=timedelta(minutes=5), mode=DelayMode.DELAY), start_at=T),
    Timing(
        trigger=OneShotTrigger.parse("2026-03-29T02:30"),
        timezone="Europe/Berlin",
        dst=DstPolicy(gap=GapPolicy.SHIFT),
    ),
    Timing(trigger=OneShotTrigger.parse("2026-05-01T10:00:00+02:00")),
    Timing(trigger=EventTrigger(subject="orders.*.created", debounce=timedelta(seconds=10))),
]
_MISFIRE = [MisfirePolicy.RUN_ONCE, *MisfirePolicy]
SCHEDULES = [
    Schedule(
        id=ScheduleId(uuid.UUID(int=100 + i)),
        tenant_id=ACME,
        name=f"s{i}",
        job_id=JobId(uuid.UUID(int=1)),
        timing=timing,
        payload={"i": i, "nested": {"x": [1, 2]}} if i == 0 else {},
        misfire_policy=_MISFIRE[i % len(_MISFIRE)],
        catchup_window=timedelta(hours=i + 1),
        max_catchup=10 * i + 1,
        overlap_policy=list(OverlapPolicy)[i % len(OverlapPolicy)],
        max_buffered=5 + i,
        depends_on=(ScheduleId(uuid.UUID(int=200)),) if i == 1 else (),
        state_reason="paused by hand" if i == 2 else None,
        state=ScheduleState.PAUSED if i == 2 else ScheduleState.ENABLED,
        created_at=T,
        updated_at=T,
    )
    for i, timing in enumerate(TIMINGS)
]
CALENDAR = Calendar(
    id=CalendarId(uuid.UUID(int=7)),
    tenant_id=ACME,
    name="de",
    business_days=frozenset({0, 1, 2, 3, 4}),
    holidays=(Holiday(day=date(2026, 12, 24), name="Christmas Eve"),),
    sources=(
        CountryHolidays(country="DE", subdivision="BY"),
        CountryHolidays(country="FR"),
        ICalHolidays(text="BEGIN:VCALENDAR\nEND:VCALENDAR\n"),
    ),
    created_at=T,
    updated_at=T,
)

# What the codec this one replaced (which shared its shape with the API) stored for
# JOBS, SCHEDULES and CALENDAR, as JSON text: rows of today's databases look like this.
STORED_JOBS = [
    (
        '{"target":{"kind":"HTTP","config":{"url":"https://example.com/hook","method":"POST"}'
        '},"max_attempts":5,"backoff":{"kind":"fixed","initial":"PT2S","multiplier":1.5,"max"'
        ':"PT1M"},"timeout":"PT1M30S","max_concurrency":4,"priority":"critical","secrets":[{"'
        'id":"k1","sealed":"c2VhbGVk","created_at":"2026-01-02T03:04:05+00:00"}],"disabled":"'
        '410 Gone"}'
    ),
    (
        '{"target":{"kind":"WORKER","config":{"type":"reports.generate"}},"max_attempts":3,"b'
        'ackoff":{"kind":"exponential","initial":"PT1S","multiplier":2.0,"max":"PT5M"},"timeo'
        'ut":"PT5M","max_concurrency":null,"priority":"normal","secrets":[],"disabled":null}'
    ),
]
STORED_SCHEDULES = [
    (
        '{"timing":{"trigger":{"type":"CRON","expression":"*/5 9-17 * * MON-FRI"},"timezone":'
        '"Europe/Berlin","dst":{"gap":"skip","fold":"both"},"start_at":"2026-01-02T03:04:05Z"'
        ',"end_at":"2026-02-01T03:04:05Z","max_fires":10,"calendar_id":"00000000-0000-0000-00'
        '00-000000000007","calendar_policy":"next_business_day","windows":["mon,tue,wed,thu,f'
        'ri 08:00-18:00"],"window_policy":"skip","max_jitter":"PT30S"},"payload":{"i":0,"nest'
        'ed":{"x":[1,2]}},"misfire_policy":"run_once","catchup_window":"PT1H","max_catchup":1'
        ',"overlap_policy":"skip","max_buffered":5,"depends_on":[]}'
    ),
    (
        '{"timing":{"trigger":{"type":"RRULE","rrule":"FREQ=WEEKLY;BYDAY=MO"},"timezone":"Ame'
        'rica/New_York","dst":{"gap":null,"fold":null},"start_at":"2026-01-02T03:04:05Z","end'
        '_at":null,"max_fires":null,"calendar_id":null,"calendar_policy":"skip","windows":[],'
        '"window_policy":"defer","max_jitter":"PT0S"},"payload":{},"misfire_policy":"run_once'
        '","catchup_window":"PT2H","max_catchup":11,"overlap_policy":"buffer_one","max_buffer'
        'ed":6,"depends_on":["00000000-0000-0000-0000-0000000000c8"]}'
    ),
    (
        '{"timing":{"trigger":{"type":"FIXED_DELAY","every":"PT5M","mode":"delay"},"timezone"'
        ':"UTC","dst":{"gap":null,"fold":null},"start_at":"2026-01-02T03:04:05Z","end_at":nul'
        'l,"max_fires":null,"calendar_id":null,"calendar_policy":"skip","windows":[],"window_'
        'policy":"defer","max_jitter":"PT0S"},"payload":{},"misfire_policy":"run_all","catchu'
        'p_window":"PT3H","max_catchup":21,"overlap_policy":"buffer_all","max_buffered":7,"de'
        'pends_on":[],"state_reason":"paused by hand"}'
    ),
    (
        '{"timing":{"trigger":{"type":"ONE_SHOT","at":"2026-03-29T02:30:00"},"timezone":"Euro'
        'pe/Berlin","dst":{"gap":"shift","fold":null},"start_at":null,"end_at":null,"max_fire'
        's":null,"calendar_id":null,"calendar_policy":"skip","windows":[],"window_policy":"de'
        'fer","max_jitter":"PT0S"},"payload":{},"misfire_policy":"skip","catchup_window":"PT4'
        'H","max_catchup":31,"overlap_policy":"replace","max_buffered":8,"depends_on":[]}'
    ),
    (
        '{"timing":{"trigger":{"type":"ONE_SHOT","at":"2026-05-01T10:00:00+02:00"},"timezone"'
        ':"UTC","dst":{"gap":null,"fold":null},"start_at":null,"end_at":null,"max_fires":null'
        ',"calendar_id":null,"calendar_policy":"skip","windows":[],"window_policy":"defer","m'
        'ax_jitter":"PT0S"},"payload":{},"misfire_policy":"run_once","catchup_window":"PT5H",'
        '"max_catchup":41,"overlap_policy":"allow","max_buffered":9,"depends_on":[]}'
    ),
    (
        '{"timing":{"trigger":{"type":"EVENT","subject":"orders.*.created","debounce":"PT10S"'
        '},"timezone":"UTC","dst":{"gap":null,"fold":null},"start_at":null,"end_at":null,"max'
        '_fires":null,"calendar_id":null,"calendar_policy":"skip","windows":[],"window_policy'
        '":"defer","max_jitter":"PT0S"},"payload":{},"misfire_policy":"run_once","catchup_win'
        'dow":"PT6H","max_catchup":51,"overlap_policy":"skip","max_buffered":10,"depends_on":'
        "[]}"
    ),
]
STORED_CALENDARS = [
    (
        '{"business_days":[0,1,2,3,4],"holidays":[{"date":"2026-12-24","name":"Christmas Eve"'
        '}],"sources":[{"country":"DE","subdivision":"BY"},{"country":"FR","subdivision":null'
        '},{"ical":"BEGIN:VCALENDAR\\nEND:VCALENDAR\\n"}]}'
    ),
]


def _job(doc: object, like: Job) -> Job:
    return job_from_document(
        doc,  # type: ignore[arg-type]
        id=like.id,
        tenant_id=like.tenant_id,
        name=like.name,
        version=like.version,
        created_at=like.created_at,
        updated_at=like.updated_at,
    )


def _schedule(doc: object, like: Schedule) -> Schedule:
    return schedule_from_document(
        doc,  # type: ignore[arg-type]
        id=like.id,
        tenant_id=like.tenant_id,
        name=like.name,
        job_id=like.job_id,
        state=like.state,
        next_fire_at=like.next_fire_at,
        fire_count=like.fire_count,
        system=like.system,
        version=like.version,
        created_at=like.created_at,
        updated_at=like.updated_at,
    )


def _calendar(doc: object, like: Calendar) -> Calendar:
    return calendar_from_document(
        doc,  # type: ignore[arg-type]
        id=like.id,
        tenant_id=like.tenant_id,
        name=like.name,
        version=like.version,
        created_at=like.created_at,
        updated_at=like.updated_at,
    )


@pytest.mark.parametrize("job", JOBS, ids=lambda j: j.name)
def test_a_job_round_trips(job: Job) -> None:
    """Document -> JSON text -> document -> job gives an equal job."""
    assert reloaded_job(job) == job


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: s.timing.trigger.kind.value)
def test_a_schedule_round_trips(schedule: Schedule) -> None:
    """Every trigger kind and every policy survive the trip, from a document or from the
    JSON text the due query selects."""
    assert reloaded_schedule(schedule) == schedule
    text = jsonfast.dumps_text(schedule_document(schedule))
    assert _schedule(text, schedule) == schedule


def test_a_calendar_round_trips() -> None:
    """Weekdays, holidays and both kinds of holiday source survive the trip."""
    assert reloaded_calendar(CALENDAR) == CALENDAR


@pytest.mark.parametrize(("job", "stored"), list(zip(JOBS, STORED_JOBS, strict=True)))
def test_jobs_stored_by_the_earlier_codec_load_and_are_written_back_unchanged(
    job: Job, stored: str
) -> None:
    """A job row of today's database loads as the job it was written from, and saving
    it again writes the same document."""
    assert _job(jsonfast.loads(stored), job) == job
    assert job_document(job) == jsonfast.loads(stored)


@pytest.mark.parametrize(
    ("schedule", "stored"), list(zip(SCHEDULES, STORED_SCHEDULES, strict=True))
)
def test_schedules_stored_by_the_earlier_codec_load_and_are_written_back_unchanged(
    schedule: Schedule, stored: str
) -> None:
    """A schedule row of today's database loads (as a document and as text) as the
    schedule it was written from, and saving it again writes the same document."""
    assert _schedule(jsonfast.loads(stored), schedule) == schedule
    assert _schedule(stored, schedule) == schedule
    assert schedule_document(schedule) == jsonfast.loads(stored)


def test_calendars_stored_by_the_earlier_codec_load_and_are_written_back_unchanged() -> None:
    """A calendar row of today's database loads, and is written back the same."""
    (stored,) = STORED_CALENDARS
    assert _calendar(jsonfast.loads(stored), CALENDAR) == CALENDAR
    assert calendar_document(CALENDAR) == jsonfast.loads(stored)


def test_keys_an_older_document_lacks_take_their_defaults() -> None:
    """A job without secrets or disabled mark, a schedule without depends_on and a timing
    of only its trigger (a FIXED_DELAY without mode) load with the defaults."""
    job = JOBS[1]
    old_job = {k: v for k, v in job_document(job).items() if k not in {"secrets", "disabled"}}
    assert _job(old_job, job) == job
    schedule = SCHEDULES[2]
    old = {k: v for k, v in schedule_document(schedule).items() if k != "depends_on"}
    old["timing"] = {
        "trigger": {"type": "FIXED_DELAY", "every": "PT5M"},
        "start_at": "2026-01-02T03:04:05Z",
    }
    loaded = _schedule(old, schedule)
    assert loaded.depends_on == ()
    assert loaded.timing == Timing(
        trigger=FixedDelayTrigger(every=timedelta(minutes=5)), start_at=T
    )


def test_a_document_the_domain_refuses_raises() -> None:
    """An impossible stored value raises (the adapter then quarantines its row)."""
    schedule = SCHEDULES[0]
    doc = schedule_document(schedule)
    doc["timing"]["trigger"]["expression"] = "99 99 * * *"
    with pytest.raises(ValueError, match="out of range"):
        _schedule(doc, schedule)
    bogus = job_document(JOBS[0])
    bogus["target"]["kind"] = "BOGUS"
    with pytest.raises(ValueError, match="BOGUS"):
        _job(bogus, JOBS[0])

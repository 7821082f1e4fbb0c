"""RRULE, FIXED_DELAY, ONE_SHOT, EVENT triggers and start_at/end_at/max_fires bounds."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from domain.durations import format_duration, parse_duration, parse_instant
from domain.errors import DomainError, InvalidCalendar, InvalidSchedule, NotFound
from domain.firing import FoldPolicy, GapPolicy
from domain.ids import CalendarId
from domain.timing import CalendarPolicy, DstPolicy, Timing, WindowPolicy
from domain.triggers import (
    DelayMode,
    EventTrigger,
    FixedDelayTrigger,
    OneShotTrigger,
    RRuleTrigger,
    parse_trigger,
)
from domain.windows import ExecutionWindow
from tests.builders import BERLIN, cron, nominal, planned, rrule, utc, z


def test_rrule_with_exdate_and_rdate() -> None:
    """EXDATE removes a reading; RDATE adds one (UTC values converted to local)."""
    timing = rrule(
        "RRULE:FREQ=DAILY;COUNT=3\nEXDATE:20260102T093000\nRDATE:20260110T120000Z",
        BERLIN,
        start_at=utc(2026, 1, 1, 8, 30),
    )
    assert nominal(timing, utc(2026, 1, 1), 10) == [
        "2026-01-01T08:30:00Z",
        "2026-01-03T08:30:00Z",
        "2026-01-10T12:00:00Z",
    ]


def test_rrule_until_in_utc_and_dtstart_line() -> None:
    """UNTIL with Z bounds the rule; a DTSTART line anchors it when start_at is absent."""
    timing = rrule(
        "DTSTART;TZID=Europe/Berlin:20260105T090000\nRRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=20260120T000000Z",
        BERLIN,
    )
    assert nominal(timing, utc(2026, 1, 1), 10) == [
        "2026-01-05T08:00:00Z",
        "2026-01-12T08:00:00Z",
        "2026-01-19T08:00:00Z",
    ]


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("FREQ=DAILY;FOO=1", "rrule.FOO"),
        ("FREQ=DAILY;BYHOUR=25", "rrule.BYHOUR"),
        ("BYHOUR=1", "rrule.FREQ"),
        ("FREQ=SOMETIMES", "rrule.FREQ"),
        ("FREQ=DAILY;COUNT=2;UNTIL=20260101", "rrule.COUNT"),
        ("RRULE:FREQ=DAILY\nEXDATE:2026", "rrule.EXDATE"),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "rrule"),
    ],
)
def test_bad_rrules_name_the_part(text: str, field: str) -> None:
    """RRULE parsing is strict; the error names the rule part."""
    with pytest.raises(InvalidSchedule) as err:
        rrule(text, BERLIN, start_at=utc(2026, 1, 1))
    assert err.value.field == field


def test_rrule_needs_an_anchor() -> None:
    """Without start_at or DTSTART an RRULE has no defined fire times."""
    with pytest.raises(InvalidSchedule) as err:
        rrule("FREQ=DAILY", BERLIN)
    assert err.value.field == "start_at"


def test_fixed_rate_is_anchored_at_start_at() -> None:
    """rate mode: start_at + k*every, whatever instant the query starts from."""
    timing = Timing(
        trigger=FixedDelayTrigger(every=timedelta(minutes=7)), start_at=utc(2026, 1, 1, 0, 1)
    )
    assert nominal(timing, utc(2026, 1, 1, 0, 10), 2) == [
        "2026-01-01T00:15:00Z",
        "2026-01-01T00:22:00Z",
    ]


def test_fixed_delay_next_fire_follows_the_previous_end() -> None:
    """delay mode: next fire = previous run's end + every."""
    trigger = FixedDelayTrigger(every=timedelta(seconds=30), mode=DelayMode.DELAY)
    assert trigger.next_after_completion(utc(2026, 1, 1, 0, 0, 10)) == utc(2026, 1, 1, 0, 0, 40)
    with pytest.raises(InvalidSchedule):
        FixedDelayTrigger(every=timedelta(milliseconds=10))


def test_one_shot_instant_fires_once() -> None:
    """ONE_SHOT with an offset fires exactly once at that instant."""
    timing = Timing(trigger=OneShotTrigger.parse("2026-05-01T12:00:00+02:00"), timezone=BERLIN)
    assert nominal(timing, utc(2026, 1, 1), 5) == ["2026-05-01T10:00:00Z"]
    assert nominal(timing, utc(2026, 6, 1), 5) == []


def test_start_end_and_max_fires_bound_the_stream() -> None:
    """start_at is inclusive, end_at inclusive, max_fires counts dispatched fires."""
    timing = cron("0 * * * *", start_at=utc(2026, 1, 1, 5), end_at=utc(2026, 1, 1, 8))
    assert nominal(timing, utc(2026, 1, 1), 10) == [
        "2026-01-01T05:00:00Z",
        "2026-01-01T06:00:00Z",
        "2026-01-01T07:00:00Z",
        "2026-01-01T08:00:00Z",
    ]
    limited = cron("0 * * * *", max_fires=3)
    assert len(nominal(limited, utc(2026, 1, 1), 10)) == 3
    assert nominal(limited, utc(2026, 1, 1), 10, fired=2) == ["2026-01-01T00:00:00Z"]
    assert nominal(limited, utc(2026, 1, 1), 10, fired=3) == []
    with pytest.raises(InvalidSchedule):
        cron("0 * * * *", start_at=utc(2026, 1, 2), end_at=utc(2026, 1, 1))
    with pytest.raises(InvalidSchedule):
        cron("0 * * * *", max_fires=0)


def test_after_is_exclusive_unless_inclusive() -> None:
    """fires(after) starts strictly after; inclusive starts at."""
    timing = cron("0 * * * *")
    assert z(next(timing.fires(utc(2026, 1, 1, 1))).nominal_at) == "2026-01-01T02:00:00Z"
    assert z(next(timing.fires(utc(2026, 1, 1, 1), inclusive=True)).nominal_at) == (
        "2026-01-01T01:00:00Z"
    )
    assert z(planned(timing, utc(2026, 1, 1, 1, 0, 0, 1), 1)[0].nominal_at) == (
        "2026-01-01T02:00:00Z"
    )


def test_event_trigger_has_no_fire_times_and_validates_subject() -> None:
    """EVENT schedules fire on messages, not on time; subjects are validated."""
    timing = Timing(trigger=EventTrigger(subject="orders.*.created"))
    assert list(timing.fires(utc(2026, 1, 1))) == []
    EventTrigger(subject="orders.>")
    with pytest.raises(InvalidSchedule):
        EventTrigger(subject="orders..created")
    with pytest.raises(InvalidSchedule):
        EventTrigger(subject="orders.>.x")


def test_parse_trigger_specs_round_trip() -> None:
    """Every trigger kind parses from its spec and renders back to it."""
    specs = [
        {"type": "CRON", "expression": "0 9 * * 1-5"},
        {"type": "RRULE", "rrule": "FREQ=DAILY"},
        {"type": "FIXED_DELAY", "every": "PT5M", "mode": "delay"},
        {"type": "ONE_SHOT", "at": "2026-05-01T12:00:00+02:00"},
        {"type": "EVENT", "subject": "orders.*", "debounce": "PT0S"},
    ]
    for spec in specs:
        assert parse_trigger(spec).to_spec() == spec
    assert parse_trigger({"type": "fixed_delay", "every": 300}).to_spec()["every"] == "PT5M"
    with pytest.raises(InvalidSchedule) as err:
        parse_trigger({"type": "SOMETIMES"})
    assert err.value.field == "trigger.type"
    with pytest.raises(InvalidSchedule) as err:
        parse_trigger({"type": "CRON"})
    assert err.value.field == "trigger.expression"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("PT15M", 900),
        ("P1DT2H", 93600),
        ("P2W", 1209600),
        ("90", 90),
        ("1.5", 1.5),
        ("1h30m", 5400),
        ("2d", 172800),
        ("45s", 45),
        ("PT0.5S", 0.5),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    """ISO 8601, plain seconds and shorthand durations."""
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "P1M", "P1Y", "PT", "P", "5 minutes", "1x", "-5"])
def test_bad_durations(text: str) -> None:
    """Months/years (no fixed length) and garbage are refused."""
    with pytest.raises(InvalidSchedule):
        parse_duration(text)


def test_format_duration_and_instants() -> None:
    """Durations render as ISO 8601; instants need an offset unless a zone is given."""
    assert format_duration(timedelta(hours=1, minutes=30)) == "PT1H30M"
    assert format_duration(timedelta(0)) == "PT0S"
    assert z(parse_instant("2026-03-28T00:00:00Z", field="from")) == "2026-03-28T00:00:00Z"
    with pytest.raises(InvalidSchedule):
        parse_instant("2026-03-28T00:00", field="from")
    zone = Timing(trigger=OneShotTrigger.parse("2026-01-01T00:00Z"), timezone=BERLIN).zone
    assert z(parse_instant("2026-03-28", field="from", tz=zone.tzinfo)) == "2026-03-27T23:00:00Z"
    with pytest.raises(InvalidSchedule):
        parse_instant("yesterday", field="from")


def test_policies_accept_their_string_values_and_name_bad_ones() -> None:
    """calendar_policy/window_policy given as text are coerced; unknown text is refused."""
    timing = cron("0 9 * * *", calendar_policy="next_business_day", window_policy="skip")
    assert timing.calendar_policy.value == "next_business_day"
    with pytest.raises(InvalidSchedule) as err:
        cron("0 9 * * *", window_policy="later")
    assert err.value.field == "window_policy"


def test_domain_errors_carry_stable_codes_and_builtin_bases() -> None:
    """Errors map to the API envelope codes and still behave as ValueError/LookupError."""
    err = InvalidSchedule("cron.minute", "out of range")
    assert isinstance(err, ValueError)
    assert isinstance(err, DomainError)
    assert (err.code, err.details["field"]) == ("INVALID_SCHEDULE", "cron.minute")
    assert InvalidCalendar("business_days", "empty").code == "INVALID_REQUEST"
    missing = NotFound("schedule", "42")
    assert isinstance(missing, LookupError)
    assert (missing.code, str(missing)) == ("NOT_FOUND", "schedule 42 not found")


def test_timing_documents_round_trip() -> None:
    """to_spec -> from_spec gives an equal Timing, for every option at once."""
    timing = Timing(
        trigger=RRuleTrigger.parse("FREQ=WEEKLY;BYDAY=MO"),
        timezone=BERLIN,
        dst=DstPolicy(gap=GapPolicy.SKIP, fold=FoldPolicy.BOTH),
        start_at=utc(2026, 1, 1),
        end_at=utc(2027, 1, 1),
        max_fires=10,
        calendar_id=CalendarId(uuid.UUID(int=5)),
        calendar_policy=CalendarPolicy.NEXT_BUSINESS_DAY,
        windows=(ExecutionWindow.parse("mon-fri 08:00-18:00"),),
        window_policy=WindowPolicy.SKIP,
        max_jitter=timedelta(minutes=5),
    )
    spec = timing.to_spec()
    assert spec["start_at"] == "2026-01-01T00:00:00Z"
    assert spec["windows"] == ["mon,tue,wed,thu,fri 08:00-18:00"]
    again = Timing.from_spec(spec)
    assert again == timing
    assert again.to_spec() == spec


EVERY_MINUTE = {"type": "CRON", "expression": "* * * * *"}


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"trigger": EVERY_MINUTE, "colour": "red"}, "colour"),
        ({}, "trigger"),
        (
            {"trigger": EVERY_MINUTE, "dst": {"gap": "jump"}},
            "dst.gap",
        ),
        ({"trigger": EVERY_MINUTE, "max_fires": "3"}, "max_fires"),
        ({"trigger": EVERY_MINUTE, "timezone": 5}, "timezone"),
        ({"trigger": EVERY_MINUTE, "start_at": "soon"}, "start_at"),
        (
            {"trigger": EVERY_MINUTE, "calendar_id": "x"},
            "calendar_id",
        ),
        ({"trigger": EVERY_MINUTE, "windows": "mon"}, "windows"),
    ],
)
def test_bad_timing_documents_name_the_field(spec: dict[str, object], field: str) -> None:
    """Documents are strict: unknown keys and bad values name the field."""
    with pytest.raises(InvalidSchedule) as err:
        Timing.from_spec(spec)
    assert err.value.field == field

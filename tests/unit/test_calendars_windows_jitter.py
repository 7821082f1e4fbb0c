"""Calendars, execution windows and jitter (docs/semantics.md, *Calendars and windows*
and *Jitter*)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from adapters.holiday_sources import LibraryHolidayProvider
from domain.calendar import BusinessCalendar, Calendar, CountryHolidays, Holiday, ICalHolidays
from domain.errors import InvalidCalendar, InvalidSchedule
from domain.firing import FoldPolicy, SkipReason
from domain.ids import CalendarId, TenantId
from domain.jitter import jitter_offset
from domain.timing import CalendarPolicy, DstPolicy, WindowPolicy
from domain.windows import ExecutionWindow
from service.cli.main import main
from tests.builders import BERLIN, cron, planned, utc, z

NOW = utc(2026, 1, 1)


def calendar(**kw: object) -> BusinessCalendar:
    cal = Calendar(
        id=CalendarId(__import__("uuid").UUID(int=7)),
        tenant_id=TenantId("acme"),
        name="ops",
        created_at=NOW,
        updated_at=NOW,
        **kw,  # type: ignore[arg-type]
    )
    return BusinessCalendar(cal, LibraryHolidayProvider())


def rows(
    expr: str, start: datetime, n: int, cal: BusinessCalendar, **kw: object
) -> list[tuple[str, str, str | None]]:
    timing = cron(expr, BERLIN, **kw)
    return [
        (z(p.nominal_at), z(p.dispatch_at), p.skipped.value if p.skipped else None)
        for p in planned(timing, start, n, calendar=cal)
    ]


def test_calendar_skip_records_non_business_days() -> None:
    """policy skip: weekend and holiday fires are skipped fires with reason calendar."""
    cal = calendar(sources=(CountryHolidays.parse("DE-BY"),))
    out = rows("0 9 * * *", utc(2026, 10, 2), 4, cal)
    assert out == [
        ("2026-10-02T07:00:00Z", "2026-10-02T07:00:00Z", None),
        ("2026-10-03T07:00:00Z", "2026-10-03T07:00:00Z", "calendar"),  # Sat + holiday
        ("2026-10-04T07:00:00Z", "2026-10-04T07:00:00Z", "calendar"),
        ("2026-10-05T07:00:00Z", "2026-10-05T07:00:00Z", None),
    ]


def test_next_business_day_keeps_wall_time_and_nominal_identity() -> None:
    """A weekly Saturday fire moves to Monday 09:00 local; nominal stays Saturday."""
    cal = calendar()
    out = rows(
        "0 9 * * 6", utc(2026, 3, 27), 2, cal, calendar_policy=CalendarPolicy.NEXT_BUSINESS_DAY
    )
    assert out == [
        ("2026-03-28T08:00:00Z", "2026-03-30T07:00:00Z", None),  # CET Sat -> CEST Mon
        ("2026-04-04T07:00:00Z", "2026-04-06T07:00:00Z", None),
    ]


def test_previous_business_day_moves_back() -> None:
    """A Sunday fire with previous_business_day is dispatched on Friday."""
    out = rows(
        "0 9 * * 0",
        utc(2026, 1, 1),
        1,
        calendar(),
        calendar_policy=CalendarPolicy.PREVIOUS_BUSINESS_DAY,
    )
    assert out == [("2026-01-04T08:00:00Z", "2026-01-02T08:00:00Z", None)]


def test_moved_fire_colliding_with_an_own_fire_is_skipped() -> None:
    """Daily + next_business_day: Sat/Sun would land on Monday, which has its own fire."""
    out = rows(
        "0 9 * * *",
        utc(2026, 1, 2),
        4,
        calendar(),
        calendar_policy=CalendarPolicy.NEXT_BUSINESS_DAY,
    )
    assert [r[2] for r in out] == [None, "calendar_collision", "calendar_collision", None]
    assert out[3][0] == out[3][1] == "2026-01-05T08:00:00Z"


def test_two_moved_days_onto_a_free_date_keep_the_first() -> None:
    """Sat and Sun fires both move to Monday (no own fire): Saturday's wins."""
    out = rows(
        "0 9 * * 6,0",
        utc(2026, 1, 2),
        3,
        calendar(),
        calendar_policy=CalendarPolicy.NEXT_BUSINESS_DAY,
    )
    assert out == [
        ("2026-01-03T08:00:00Z", "2026-01-05T08:00:00Z", None),
        ("2026-01-04T08:00:00Z", "2026-01-04T08:00:00Z", "calendar_collision"),
        ("2026-01-10T08:00:00Z", "2026-01-12T08:00:00Z", None),
    ]


def test_fires_of_one_moved_day_move_together() -> None:
    """Two Saturday fires (09:00, 12:00) both move to Monday: one group, no collision."""
    out = rows(
        "0 9,12 * * 6",
        utc(2026, 1, 2),
        2,
        calendar(),
        calendar_policy=CalendarPolicy.NEXT_BUSINESS_DAY,
    )
    assert [(r[1], r[2]) for r in out] == [
        ("2026-01-05T08:00:00Z", None),
        ("2026-01-05T11:00:00Z", None),
    ]


def test_holiday_names_come_from_the_holidays_package_in_the_local_language() -> None:
    """DE-BY knows Tag der Deutschen Einheit and Bavaria's Epiphany; years load on demand."""
    cal = calendar(sources=(CountryHolidays.parse("DE-BY"),))
    assert cal.holiday(date(2026, 10, 3)) == "Tag der Deutschen Einheit"
    assert cal.holiday(date(2031, 1, 6)) is not None  # Heilige Drei Könige, a later year
    assert calendar(sources=(CountryHolidays.parse("DE-BE"),)).holiday(date(2026, 1, 6)) is None
    fire = planned(
        cron("0 9 * * *", BERLIN),
        utc(2026, 10, 3),
        1,
        calendar=cal,
    )[0]
    assert fire.notes == ("skipped: holiday Tag der Deutschen Einheit",)
    assert fire.calendar == (cal.calendar.id, 1)


def test_unknown_country_and_subdivision_are_errors() -> None:
    """A holiday source the provider does not know is rejected with the field named."""
    provider = LibraryHolidayProvider()
    with pytest.raises(InvalidCalendar) as err:
        provider.validate(CountryHolidays.parse("XX"))
    assert err.value.field == "holidays.country"
    with pytest.raises(InvalidCalendar) as err:
        provider.validate(CountryHolidays.parse("DE-ZZ"))
    assert err.value.field == "holidays.subdivision"


def test_explicit_and_ical_holidays() -> None:
    """Explicit dates and recurring all-day iCalendar events are holidays."""
    ics = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:test\r\nBEGIN:VEVENT\r\n"
        "DTSTART;VALUE=DATE:20261224\r\nDTEND;VALUE=DATE:20261227\r\n"
        "SUMMARY:Winter break\r\nRRULE:FREQ=YEARLY\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    cal = calendar(
        holidays=(Holiday(day=date(2026, 7, 1), name="Company day"),),
        sources=(ICalHolidays(text=ics),),
    )
    assert cal.holiday(date(2026, 7, 1)) == "Company day"
    assert cal.holiday(date(2029, 12, 26)) == "Winter break"
    assert cal.holiday(date(2029, 12, 27)) is None
    assert not cal.is_business_day(date(2026, 12, 24))
    with pytest.raises(InvalidCalendar):
        LibraryHolidayProvider().validate(ICalHolidays(text="not a calendar"))


def test_business_weekdays_are_configurable_and_must_not_be_empty() -> None:
    """A Sun-Thu calendar treats Friday as non-business; an empty set is refused."""
    cal = calendar(business_days=frozenset({6, 0, 1, 2, 3}))
    assert not cal.is_business_day(date(2026, 1, 2))  # Friday
    assert cal.is_business_day(date(2026, 1, 4))  # Sunday
    with pytest.raises(InvalidCalendar):
        calendar(business_days=frozenset())


def test_calendar_revision_bumps_version() -> None:
    """Changing a calendar makes a new version (runs record which one decided them)."""
    cal = calendar().calendar
    later = cal.revise(
        now=NOW + timedelta(days=1), holidays=(Holiday(day=date(2026, 5, 4), name="x"),)
    )
    assert (later.version, later.updated_at) == (2, NOW + timedelta(days=1))
    with pytest.raises(InvalidCalendar):
        cal.revise(now=NOW, tenant_id="other")


def test_window_defers_to_the_next_start() -> None:
    """A 07:00 fire outside mon-fri 08:00-18:00 is deferred to 08:00; Saturday's to Monday."""
    timing = cron("0 7 * * *", BERLIN, windows=(ExecutionWindow.parse("mon-fri 08:00-18:00"),))
    out = [
        (z(p.nominal_at), z(p.dispatch_at), p.skipped) for p in planned(timing, utc(2026, 1, 2), 2)
    ]
    assert out == [
        ("2026-01-02T06:00:00Z", "2026-01-02T07:00:00Z", None),
        ("2026-01-03T06:00:00Z", "2026-01-05T07:00:00Z", None),
    ]


def test_window_skip_policy_and_overnight_window() -> None:
    """window_policy skip records reason window; an overnight window spans midnight."""
    night = ExecutionWindow.parse("daily 22:00-06:00")
    assert night.contains(datetime(2026, 1, 1, 23, 0))
    assert night.contains(datetime(2026, 1, 2, 5, 59))
    assert not night.contains(datetime(2026, 1, 2, 6, 0))
    timing = cron("0 */6 * * *", BERLIN, windows=(night,), window_policy=WindowPolicy.SKIP)
    out = [(p.local_at.hour, p.skipped) for p in planned(timing, utc(2026, 1, 1, 23), 4)]
    assert out == [
        (0, None),
        (6, SkipReason.WINDOW),
        (12, SkipReason.WINDOW),
        (18, SkipReason.WINDOW),
    ]


def test_window_deferral_skips_holidays_when_a_calendar_is_used() -> None:
    """Deferred past Friday evening with Monday a holiday: dispatch Tuesday 08:00."""
    cal = calendar(holidays=(Holiday(day=date(2026, 1, 5), name="Bridge day"),))
    timing = cron("0 19 * * 5", BERLIN, windows=(ExecutionWindow.parse("mon-fri 08:00-18:00"),))
    (fire,) = planned(timing, utc(2026, 1, 2), 1, calendar=cal)
    assert fire.dispatch_local_at.isoformat() == "2026-01-06T08:00:00+01:00"


@pytest.mark.parametrize(
    "text", ["mon-fri", "funday 08:00-10:00", "mon 25:00-26:00", "mon 08:00-08:00"]
)
def test_bad_windows_are_rejected(text: str) -> None:
    """A malformed window names the problem."""
    with pytest.raises(InvalidSchedule):
        ExecutionWindow.parse(text)


def test_jitter_is_deterministic_bounded_and_spread() -> None:
    """Same (schedule, nominal) -> same offset; offsets stay in [0, max] and differ by id."""
    nominal = datetime(2026, 1, 1, 9, tzinfo=UTC)
    bound = timedelta(minutes=10)
    first = jitter_offset("sched-a", nominal, bound)
    assert first == jitter_offset("sched-a", nominal, bound)
    offsets = {jitter_offset(f"sched-{i}", nominal, bound) for i in range(200)}
    assert all(timedelta(0) <= o <= bound for o in offsets)
    assert len(offsets) > 150
    assert max(offsets) - min(offsets) > timedelta(minutes=8)
    assert jitter_offset("sched-a", nominal, timedelta(0)) == timedelta(0)


def test_jitter_moves_dispatch_not_nominal_and_needs_a_schedule_id() -> None:
    """Planned dispatch = nominal + jitter offset; identity is unchanged."""
    timing = cron("0 9 * * *", BERLIN, max_jitter=timedelta(minutes=5))
    (fire,) = planned(timing, utc(2026, 1, 1), 1, schedule_id="s1")
    assert fire.dispatch_at - fire.nominal_at == jitter_offset(
        "s1", fire.nominal_at, timedelta(minutes=5)
    )
    with pytest.raises(InvalidSchedule):
        planned(timing, utc(2026, 1, 1), 1)


def test_window_opening_in_a_spring_gap_dispatches_when_the_clocks_jump() -> None:
    """`daily 02:30-04:00` on Berlin's spring-forward day opens at 03:00 CEST, not 03:30."""
    timing = cron("0 1 * * *", BERLIN, windows=(ExecutionWindow.parse("daily 02:30-04:00"),))
    first, second = planned(timing, utc(2026, 3, 28, 12), 2)
    assert first.dispatch_local_at.isoformat() == "2026-03-29T03:00:00+02:00"
    assert z(first.dispatch_at) == "2026-03-29T01:00:00Z"
    assert first.notes == ("deferred: window opens Sun 03:00",)
    assert second.dispatch_local_at.isoformat() == "2026-03-30T02:30:00+02:00"


def test_window_lying_wholly_in_a_spring_gap_does_not_open_that_day() -> None:
    """`daily 02:10-02:40` never exists on spring-forward day: the fire waits a day."""
    timing = cron("0 1 * * *", BERLIN, windows=(ExecutionWindow.parse("daily 02:10-02:40"),))
    (fire,) = planned(timing, utc(2026, 3, 28, 12), 1)
    assert fire.dispatch_local_at.isoformat() == "2026-03-30T02:10:00+02:00"


def test_window_opening_in_an_autumn_fold_opens_at_the_first_occurrence() -> None:
    """On fall-back day a fire before the fold is deferred to the first 02:30 (CEST)."""
    timing = cron("0 1 * * *", BERLIN, windows=(ExecutionWindow.parse("daily 02:30-04:00"),))
    (fire,) = planned(timing, utc(2026, 10, 24, 12), 1)
    assert fire.dispatch_local_at.isoformat() == "2026-10-25T02:30:00+02:00"
    assert z(fire.dispatch_at) == "2026-10-25T00:30:00Z"


def test_window_deferral_in_an_autumn_fold_never_moves_a_fire_back_in_time() -> None:
    """A fire at the second 02:10 (CET) is deferred to the second 02:30, not the first."""
    timing = cron(
        "10 2 * * *",
        BERLIN,
        dst=DstPolicy(fold=FoldPolicy.SECOND),
        windows=(ExecutionWindow.parse("daily 02:30-04:00"),),
    )
    (fire,) = planned(timing, utc(2026, 10, 24, 12), 1)
    assert z(fire.nominal_at) == "2026-10-25T01:10:00Z"
    assert z(fire.dispatch_at) == "2026-10-25T01:30:00Z"
    assert fire.dispatch_local_at.isoformat() == "2026-10-25T02:30:00+01:00"


def test_an_unnamed_holiday_is_just_holiday(capsys: pytest.CaptureFixture[str]) -> None:
    """`kairos next --holiday DATE` (no name): the skipped fire's note says
    'holiday', not 'holiday holiday'."""
    argv = ["next", "--cron", "0 9 * * *", "--from", "2026-12-23", "--count", "2"]
    assert main([*argv, "--holiday", "2026-12-24", "--include-skipped"]) == 0
    out = capsys.readouterr().out
    assert "skipped: holiday" in out
    assert "holiday holiday" not in out

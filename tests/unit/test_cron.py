"""CRON parsing and matching (docs/semantics.md, *Triggers*)."""

from __future__ import annotations

from datetime import datetime
from itertools import islice

import pytest

from domain.cron import CronExpression
from domain.errors import InvalidSchedule
from domain.zones import naive_to_wall, wall_to_naive


def walls(expr: str, start: datetime, n: int) -> list[str]:
    c = CronExpression.parse(expr)
    return [
        wall_to_naive(w).strftime("%Y-%m-%d %a %H:%M:%S")
        for w in islice(c.walls_from(naive_to_wall(start)), n)
    ]


@pytest.mark.parametrize(
    ("expr", "field"),
    [
        ("61 * * * *", "cron.minute"),
        ("* 24 * * *", "cron.hour"),
        ("* * 32 * *", "cron.day_of_month"),
        ("* * * 13 *", "cron.month"),
        ("* * * * 8", "cron.day_of_week"),
        ("* * * * mon#6", "cron.day_of_week"),
        ("60 * * * * *", "cron.second"),
        ("x * * * *", "cron.minute"),
        ("* * * *", "cron"),
        ("* * * * * * *", "cron"),
        ("@reboot", "cron"),
        ("", "cron"),
        ("0 0 31 2 *", "cron.day_of_month"),
    ],
)
def test_bad_expressions_name_the_field(expr: str, field: str) -> None:
    """Parsing is strict and the error names the offending field."""
    with pytest.raises(InvalidSchedule) as err:
        CronExpression.parse(expr)
    assert err.value.field == field
    assert err.value.code == "INVALID_SCHEDULE"


def test_five_fields_weekdays() -> None:
    """`0 9 * * 1-5` fires weekdays at 09:00."""
    assert walls("0 9 * * 1-5", datetime(2026, 1, 1), 3) == [
        "2026-01-01 Thu 09:00:00",
        "2026-01-02 Fri 09:00:00",
        "2026-01-05 Mon 09:00:00",
    ]


def test_six_fields_have_leading_seconds() -> None:
    """`*/20 0 9 * * *`: seconds come first."""
    assert walls("*/20 0 9 * * *", datetime(2026, 1, 1), 4) == [
        "2026-01-01 Thu 09:00:00",
        "2026-01-01 Thu 09:00:20",
        "2026-01-01 Thu 09:00:40",
        "2026-01-02 Fri 09:00:00",
    ]


@pytest.mark.parametrize(
    ("macro", "first_two"),
    [
        ("@yearly", ["2027-01-01 Fri 00:00:00", "2028-01-01 Sat 00:00:00"]),
        ("@annually", ["2027-01-01 Fri 00:00:00", "2028-01-01 Sat 00:00:00"]),
        ("@monthly", ["2026-02-01 Sun 00:00:00", "2026-03-01 Sun 00:00:00"]),
        ("@weekly", ["2026-01-04 Sun 00:00:00", "2026-01-11 Sun 00:00:00"]),
        ("@daily", ["2026-01-02 Fri 00:00:00", "2026-01-03 Sat 00:00:00"]),
        ("@hourly", ["2026-01-01 Thu 01:00:00", "2026-01-01 Thu 02:00:00"]),
    ],
)
def test_macros(macro: str, first_two: list[str]) -> None:
    """Each macro expands to its standard expression."""
    assert walls(macro, datetime(2026, 1, 1, 0, 0, 1), 2) == first_two


def test_last_day_of_month() -> None:
    """`L` in day-of-month is the last day, leap years included."""
    assert walls("0 0 L * *", datetime(2028, 1, 1), 3) == [
        "2028-01-31 Mon 00:00:00",
        "2028-02-29 Tue 00:00:00",
        "2028-03-31 Fri 00:00:00",
    ]


def test_nearest_weekday() -> None:
    """`15W` moves to the nearest weekday; `1W` on a Saturday goes to Monday the 3rd."""
    assert walls("0 0 15W * *", datetime(2026, 2, 1), 2) == [
        "2026-02-16 Mon 00:00:00",  # 15th is a Sunday
        "2026-03-16 Mon 00:00:00",
    ]
    assert walls("0 0 1W * *", datetime(2026, 8, 1), 1) == ["2026-08-03 Mon 00:00:00"]
    assert walls("0 0 31W * *", datetime(2026, 5, 1), 1) == ["2026-05-29 Fri 00:00:00"]


def test_nth_and_last_weekday_of_month() -> None:
    """`1#2` is the second Monday; `L5` and `friL` the last Friday."""
    assert walls("0 0 * * 1#2", datetime(2026, 1, 1), 2) == [
        "2026-01-12 Mon 00:00:00",
        "2026-02-09 Mon 00:00:00",
    ]
    expected = ["2026-01-30 Fri 00:00:00", "2026-02-27 Fri 00:00:00"]
    assert walls("0 0 * * L5", datetime(2026, 1, 1), 2) == expected
    assert walls("0 0 * * friL", datetime(2026, 1, 1), 2) == expected


def test_lw_is_the_last_weekday_of_the_month() -> None:
    """`LW` is the month's last Monday-to-Friday, as Quartz and cronsim read it."""
    assert walls("0 9 LW * *", datetime(2026, 1, 1), 4) == [
        "2026-01-30 Fri 09:00:00",  # the 31st is a Saturday
        "2026-02-27 Fri 09:00:00",  # the 28th is a Saturday
        "2026-03-31 Tue 09:00:00",
        "2026-04-30 Thu 09:00:00",
    ]
    assert walls("0 9 LW * *", datetime(2026, 5, 1), 1) == ["2026-05-29 Fri 09:00:00"]  # Sun
    assert walls("0 0 0 LW * ?", datetime(2026, 8, 1), 1) == ["2026-08-31 Mon 00:00:00"]


def test_lw_combines_with_other_days_of_month() -> None:
    """`1,LW` fires on the 1st and on the last weekday; `L-2` two days before the last."""
    assert walls("0 9 1,LW * *", datetime(2026, 1, 1), 3) == [
        "2026-01-01 Thu 09:00:00",
        "2026-01-30 Fri 09:00:00",
        "2026-02-01 Sun 09:00:00",
    ]
    assert walls("0 9 L-2 * *", datetime(2026, 2, 1), 2) == [
        "2026-02-26 Thu 09:00:00",
        "2026-03-29 Sun 09:00:00",
    ]


def test_quartz_numbered_last_weekday_is_refused_with_the_spelling_to_use() -> None:
    """Quartz's `6L` (1=Sun) would be Saturday to cron: refused, naming FRIL and SATL."""
    with pytest.raises(InvalidSchedule) as caught:
        CronExpression.parse("0 0 12 ? * 6L")
    assert caught.value.field == "cron.day_of_week"
    assert "'FRIL' (last Friday, Quartz's reading)" in caught.value.message
    assert "'SATL' (last Saturday, cron's)" in caught.value.message


def test_quartz_year_field_is_refused_with_what_to_write() -> None:
    """A 7-field Quartz expression names the year field and says to use end_at."""
    with pytest.raises(InvalidSchedule) as caught:
        CronExpression.parse("0 0 12 * * ? 2026")
    assert caught.value.field == "cron"
    assert "year field" in caught.value.message
    assert "end_at" in caught.value.message


def test_day_of_month_and_day_of_week_are_ored_when_both_restricted() -> None:
    """`0 0 13 * 5`: every 13th and every Friday (Vixie/croniter rule)."""
    assert walls("0 0 13 * 5", datetime(2026, 1, 1), 4) == [
        "2026-01-02 Fri 00:00:00",
        "2026-01-09 Fri 00:00:00",
        "2026-01-13 Tue 00:00:00",
        "2026-01-16 Fri 00:00:00",
    ]


def test_question_mark_and_sunday_as_seven() -> None:
    """`?` means any; 7 is Sunday like 0."""
    assert walls("0 0 ? * 7", datetime(2026, 1, 1), 1) == ["2026-01-04 Sun 00:00:00"]


def test_start_inside_a_day_resumes_at_the_next_matching_second() -> None:
    """Enumeration starts at the given reading, inclusive."""
    assert walls("*/15 * * * *", datetime(2026, 1, 1, 10, 15), 2) == [
        "2026-01-01 Thu 10:15:00",
        "2026-01-01 Thu 10:30:00",
    ]
    assert walls("*/15 * * * *", datetime(2026, 1, 1, 23, 50), 1) == ["2026-01-02 Fri 00:00:00"]


def test_leap_day_only_rule_fires_every_four_years() -> None:
    """`0 0 29 2 *` is feasible and yields leap days only."""
    assert walls("0 0 29 2 *", datetime(2026, 1, 1), 2) == [
        "2028-02-29 Tue 00:00:00",
        "2032-02-29 Sun 00:00:00",
    ]


@pytest.mark.parametrize(
    ("expr", "periodic"),
    [
        ("0 * * * *", True),
        ("*/15 * * * *", True),
        ("0 */2 * * *", True),
        ("0 0-23/6 * * *", True),
        ("0 0,12 * * *", True),
        ("* * * * * *", True),
        ("@hourly", True),
        ("30 2 * * *", False),
        ("0 9-17 * * *", False),
        ("0 1-23/2 * * *", False),
        ("@daily", False),
        ("0 0 * * 1", False),
    ],
)
def test_periodic_classification(expr: str, periodic: bool) -> None:
    """Periodic = hour field `*` or `*/n` (or a set equal to one)."""
    assert CronExpression.parse(expr).periodic is periodic


def test_equal_range_means_that_single_value() -> None:
    """`0-0` is minute 0 (croniter alone would read it as the whole hour)."""
    assert walls("0-0 9 * * *", datetime(2026, 1, 1), 2) == [
        "2026-01-01 Thu 09:00:00",
        "2026-01-02 Fri 09:00:00",
    ]
    assert walls("0 9 * * mon-mon", datetime(2026, 1, 1), 1) == ["2026-01-05 Mon 09:00:00"]

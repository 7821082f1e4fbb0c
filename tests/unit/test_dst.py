"""DST rules of docs/semantics.md, *Daylight saving time*: periodic rules on absolute
time, fixed rules once per date."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from itertools import pairwise, takewhile

import pytest

from domain.errors import InvalidSchedule
from domain.firing import FoldPolicy, GapPolicy, SkipReason
from domain.timing import DstPolicy, Timing
from domain.triggers import FixedDelayTrigger, OneShotTrigger
from domain.zones import WallKind, get_zone, instant_to_datetime, naive_to_wall
from tests.builders import BERLIN, cron, planned, rrule, utc, z


def fires_on(timing: Timing, day: date) -> list[str]:
    """Nominal instants of dispatched fires whose local date is ``day``."""
    tz = timing.zone.tzinfo
    start = datetime(day.year, day.month, day.day, tzinfo=tz) - timedelta(hours=3)
    rows = planned(timing, start, 200)
    return [
        z(p.nominal_at)
        for p in rows
        if p.skipped is None and p.nominal_at.astimezone(tz).date() == day
    ]


def test_gap_shift_is_default_and_uses_offset_before_transition() -> None:
    """`30 2 * * *` Berlin fires at 01:30Z (03:30 CEST) on spring-forward day."""
    rows = planned(cron("30 2 * * *", BERLIN), utc(2026, 3, 28), 3)
    assert [z(p.nominal_at) for p in rows] == [
        "2026-03-28T01:30:00Z",
        "2026-03-29T01:30:00Z",
        "2026-03-30T00:30:00Z",
    ]
    assert rows[1].skipped is None
    assert rows[1].notes == ("shifted: DST gap",)
    assert rows[1].local_at.isoformat() == "2026-03-29T03:30:00+02:00"


def test_gap_skip_fires_nothing_that_day_and_records_the_skip() -> None:
    """gap=skip: no fire on 2026-03-29, one skipped record with reason dst_gap."""
    timing = cron("30 2 * * *", BERLIN, dst=DstPolicy(gap=GapPolicy.SKIP))
    rows = planned(timing, utc(2026, 3, 28), 3)
    assert [(z(p.nominal_at), p.skipped) for p in rows] == [
        ("2026-03-28T01:30:00Z", None),
        ("2026-03-29T01:30:00Z", SkipReason.DST_GAP),
        ("2026-03-30T00:30:00Z", None),
    ]
    assert fires_on(timing, date(2026, 3, 29)) == []


@pytest.mark.parametrize(
    ("fold", "expected"),
    [
        (FoldPolicy.FIRST, ["2026-10-25T00:30:00Z"]),
        (FoldPolicy.SECOND, ["2026-10-25T01:30:00Z"]),
        (FoldPolicy.BOTH, ["2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z"]),
    ],
)
def test_fold_policies_on_fall_back_day(fold: FoldPolicy, expected: list[str]) -> None:
    """`30 2 * * *` Berlin on 2026-10-25: first 00:30Z, second 01:30Z, both fires twice."""
    timing = cron("30 2 * * *", BERLIN, dst=DstPolicy(fold=fold))
    assert fires_on(timing, date(2026, 10, 25)) == expected
    rows = planned(timing, utc(2026, 10, 24), 4)
    assert next(z(p.nominal_at) for p in rows) == "2026-10-24T00:30:00Z"


def test_fold_default_is_first() -> None:
    """Without a fold policy a fixed rule fires once, at the first occurrence."""
    assert fires_on(cron("30 2 * * *", BERLIN), date(2026, 10, 25)) == ["2026-10-25T00:30:00Z"]


def test_hourly_fires_25_times_on_fall_back_and_23_on_spring_forward() -> None:
    """`0 * * * *` is periodic: every instant whose local reading matches."""
    timing = cron("0 * * * *", BERLIN)
    assert len(fires_on(timing, date(2026, 10, 25))) == 25
    assert len(fires_on(timing, date(2026, 3, 29))) == 23
    assert len(fires_on(timing, date(2026, 7, 1))) == 24


def test_periodic_gap_readings_are_not_fires_nor_skips() -> None:
    """A reading that does not exist is not a fire: no skipped record either."""
    timing = cron("30 * * * *", BERLIN)
    rows = planned(timing, utc(2026, 3, 29, 0), 3)
    assert [(z(p.nominal_at), p.skipped) for p in rows] == [
        ("2026-03-29T00:30:00Z", None),
        ("2026-03-29T01:30:00Z", None),  # 03:30 CEST; 02:30 did not exist
        ("2026-03-29T02:30:00Z", None),
    ]


def test_fold_both_interleaves_in_time_order_for_several_readings() -> None:
    """`0,30 2 * * *` with fold=both: the four fires come out in instant order."""
    timing = cron("0,30 2 * * *", BERLIN, dst=DstPolicy(fold=FoldPolicy.BOTH))
    assert fires_on(timing, date(2026, 10, 25)) == [
        "2026-10-25T00:00:00Z",
        "2026-10-25T00:30:00Z",
        "2026-10-25T01:00:00Z",
        "2026-10-25T01:30:00Z",
    ]


def test_shifted_gap_reading_that_equals_a_real_one_fires_once() -> None:
    """`0 2,3 * * *`: 02:00 shifted is 03:00 CEST = the 03:00 fire; the instant fires once."""
    timing = cron("0 2,3 * * *", BERLIN)
    assert fires_on(timing, date(2026, 3, 29)) == ["2026-03-29T01:00:00Z"]


def test_gap_skip_record_does_not_shadow_a_real_fire_at_the_same_instant() -> None:
    """gap=skip where the skipped reading's instant is also a real fire: the fire wins."""
    timing = cron("0 2,3 * * *", BERLIN, dst=DstPolicy(gap=GapPolicy.SKIP))
    rows = planned(timing, utc(2026, 3, 28, 23), 2)
    assert [(z(p.nominal_at), p.skipped) for p in rows] == [
        ("2026-03-29T01:00:00Z", None),
        ("2026-03-30T00:00:00Z", None),
    ]


def test_new_york_fixed_rule_across_both_transitions() -> None:
    """America/New_York: 02:30 shifted in March; 01:30 (the fold) fires first in November."""
    timing = cron("30 2 * * *", "America/New_York")
    assert fires_on(timing, date(2026, 3, 8)) == ["2026-03-08T07:30:00Z"]
    assert fires_on(timing, date(2026, 11, 1)) == ["2026-11-01T07:30:00Z"]  # 02:30 EST
    fold = cron("30 1 * * *", "America/New_York")
    assert fires_on(fold, date(2026, 11, 1)) == ["2026-11-01T05:30:00Z"]  # 01:30 EDT


def test_lord_howe_half_hour_fold_repeats_only_the_half_hour() -> None:
    """Australia/Lord_Howe falls back 30 minutes: `*/30` fires 01:30 twice that night."""
    timing = cron("*/30 * * * *", "Australia/Lord_Howe")
    rows = planned(timing, utc(2026, 4, 4, 14), 4)
    assert [(z(p.nominal_at), p.local_at.strftime("%H:%M%z")) for p in rows] == [
        ("2026-04-04T14:00:00Z", "01:00+1100"),
        ("2026-04-04T14:30:00Z", "01:30+1100"),
        ("2026-04-04T15:00:00Z", "01:30+1030"),
        ("2026-04-04T15:30:00Z", "02:00+1030"),
    ]


def test_lord_howe_half_hour_gap_shifts_a_fixed_rule_by_thirty_minutes() -> None:
    """02:15 does not exist on 2026-10-04 in Lord_Howe; shift resolves with +10:30."""
    timing = cron("15 2 * * *", "Australia/Lord_Howe")
    (fire,) = fires_on(timing, date(2026, 10, 4))
    assert fire == "2026-10-03T15:45:00Z"  # 02:15+10:30; read as 02:45+11:00


def test_apia_skipped_day_has_no_periodic_fires_and_one_daily_fire() -> None:
    """Pacific/Apia skipped 2011-12-30: hourly fires none, daily noon merges into 12-31."""
    hourly = cron("0 * * * *", "Pacific/Apia")
    assert fires_on(hourly, date(2011, 12, 30)) == []
    daily = cron("0 12 * * *", "Pacific/Apia")
    rows = planned(daily, utc(2011, 12, 28), 4)
    stamps = [z(p.nominal_at) for p in rows]
    assert stamps == sorted(set(stamps))
    assert stamps == [
        "2011-12-28T22:00:00Z",
        "2011-12-29T22:00:00Z",
        "2011-12-30T22:00:00Z",  # 12-31 12:00+14:00 (and the shifted 12-30 reading)
        "2011-12-31T22:00:00Z",
    ]


def test_rrule_hourly_is_periodic_and_daily_is_fixed() -> None:
    """RRULE FREQ=HOURLY follows absolute time; FREQ=DAILY fires once per date."""
    start = utc(2026, 10, 24, 22)  # 2026-10-25 00:00 CEST
    hourly = rrule("FREQ=HOURLY", BERLIN, start_at=start)
    assert len(fires_on(hourly, date(2026, 10, 25))) == 25
    daily = rrule("FREQ=DAILY;BYHOUR=2;BYMINUTE=30", BERLIN, start_at=start)
    assert fires_on(daily, date(2026, 10, 25)) == ["2026-10-25T00:30:00Z"]
    assert fires_on(daily, date(2026, 3, 29)) == []  # before start_at
    spring = rrule("FREQ=DAILY;BYHOUR=2;BYMINUTE=30", BERLIN, start_at=utc(2026, 3, 1))
    assert fires_on(spring, date(2026, 3, 29)) == ["2026-03-29T01:30:00Z"]


def test_one_shot_local_time_in_gap_or_fold_needs_an_explicit_policy() -> None:
    """ONE_SHOT at a non-existent or doubled local time is rejected without a dst policy."""
    gap = OneShotTrigger.parse("2026-03-29T02:30")
    fold = OneShotTrigger.parse("2026-10-25T02:30")
    with pytest.raises(InvalidSchedule, match="DST gap") as err:
        Timing(trigger=gap, timezone=BERLIN)
    assert err.value.field == "at"
    with pytest.raises(InvalidSchedule, match="DST fold"):
        Timing(trigger=fold, timezone=BERLIN)
    shifted = Timing(trigger=gap, timezone=BERLIN, dst=DstPolicy(gap=GapPolicy.SHIFT))
    assert [z(p.nominal_at) for p in planned(shifted, utc(2026, 1, 1), 5)] == [
        "2026-03-29T01:30:00Z"
    ]
    second = Timing(trigger=fold, timezone=BERLIN, dst=DstPolicy(fold=FoldPolicy.SECOND))
    assert [z(p.nominal_at) for p in planned(second, utc(2026, 1, 1), 5)] == [
        "2026-10-25T01:30:00Z"
    ]
    skipped = Timing(trigger=gap, timezone=BERLIN, dst=DstPolicy(gap=GapPolicy.SKIP))
    assert [p.skipped for p in planned(skipped, utc(2026, 1, 1), 5)] == [SkipReason.DST_GAP]


def test_fixed_rate_ignores_dst() -> None:
    """FIXED_DELAY is elapsed time: exactly one hour apart across the fall-back."""
    timing = Timing(
        trigger=FixedDelayTrigger(every=timedelta(hours=1)),
        timezone=BERLIN,
        start_at=utc(2026, 10, 24, 23),
    )
    rows = planned(timing, utc(2026, 10, 24, 23), 4)
    gaps = {b.nominal_at - a.nominal_at for a, b in pairwise(rows)}
    assert gaps == {timedelta(hours=1)}


def test_zone_resolution_matches_pep_495_for_gap_and_fold() -> None:
    """Zone.resolve: gap earlier = offset before; fold = first and second occurrence."""
    zone = get_zone(BERLIN)
    kind, early, late = zone.resolve(naive_to_wall(datetime(2026, 3, 29, 2, 30)))
    assert kind is WallKind.GAP
    assert z(instant_to_datetime(early)) == "2026-03-29T01:30:00Z"
    kind, early, late = zone.resolve(naive_to_wall(datetime(2026, 10, 25, 2, 30)))
    assert kind is WallKind.FOLD
    assert (z(instant_to_datetime(early)), z(instant_to_datetime(late))) == (
        "2026-10-25T00:30:00Z",
        "2026-10-25T01:30:00Z",
    )
    kind, early, late = zone.resolve(naive_to_wall(datetime(2026, 7, 1, 12)))
    assert kind is WallKind.UNIQUE
    assert early == late


def test_unknown_zone_is_an_invalid_schedule() -> None:
    """A zone that is not an IANA key is refused, naming the field."""
    with pytest.raises(InvalidSchedule) as err:
        cron("0 * * * *", "Mars/Olympus")
    assert err.value.field == "timezone"
    with pytest.raises(InvalidSchedule):
        cron("0 * * * *", "localtime")


def test_fires_stay_monotonic_over_a_year_of_transitions() -> None:
    """A year of `*/20 * * * *` in New York: strictly increasing, 20 minutes apart in UTC."""
    timing = cron("*/20 * * * *", "America/New_York")
    rows = planned(timing, utc(2026, 1, 1), 3 * 24 * 366)
    stamps = [p.nominal_at for p in takewhile(lambda p: p.nominal_at.year == 2026, rows)]
    steps = {b - a for a, b in pairwise(stamps)}
    assert steps == {timedelta(minutes=20)}

"""Property tests: cron fire times against an independent oracle (cronsim), across zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache
from itertools import islice, pairwise
from zoneinfo import ZoneInfo

from croniter import croniter
from cronsim import CronSim
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.planning import plan
from domain.timing import Timing
from domain.triggers import CronTrigger

ZONES = [
    "UTC",
    "America/New_York",
    "Europe/London",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "Pacific/Apia",
    "Asia/Kathmandu",
    "America/Santiago",
]
N = 40


def _field(lo: int, hi: int, *, equal_ranges: bool = True) -> st.SearchStrategy[str]:
    """A cron field. ``equal_ranges=False`` avoids ``a-a``, which croniter reads as the
    whole cycle (Kairos and cronsim: just ``a``)."""
    value = st.integers(lo, hi)
    return st.one_of(
        st.just("*"),
        st.integers(2, max(2, (hi - lo) // 2)).map(lambda n: f"*/{n}"),
        value.map(str),
        st.tuples(value, value)
        .filter(lambda ab: equal_ranges or ab[0] != ab[1])
        .map(lambda ab: f"{min(ab)}-{max(ab)}"),
        st.lists(value, min_size=2, max_size=4, unique=True).map(
            lambda xs: ",".join(map(str, sorted(xs)))
        ),
        # lo < hi: for `a-a/n` cronsim reads `a/n` (a to max), Kairos the literal {a}.
        st.tuples(value, value, st.integers(2, 5))
        .filter(lambda t: t[0] != t[1])
        .map(lambda t: f"{min(t[0], t[1])}-{max(t[0], t[1])}/{t[2]}"),
    )


@st.composite
def cron_expressions(draw: st.DrawFn) -> str:
    minute = draw(_field(0, 59))
    hour = draw(_field(0, 23))
    month = draw(st.one_of(st.just("*"), _field(1, 12)))
    dom = draw(st.one_of(st.just("*"), _field(1, 28)))
    dow = draw(st.one_of(st.just("*"), _field(0, 6)))
    # Vixie cron ANDs the day fields when one *starts with* '*' (e.g. */2); croniter and
    # Kairos OR them whenever both are restricted. Keep to expressions where all agree.
    if dom != "*" and dow != "*" and (dom.startswith("*") or dow.startswith("*")):
        dow = "*"
    return f"{minute} {hour} {dom} {month} {dow}"


starts = st.datetimes(
    min_value=datetime(1995, 1, 1), max_value=datetime(2060, 12, 31), timezones=st.just(UTC)
)


@cache
def _stable_date(zone: str, day: date) -> bool:
    """True when ``day`` (local) has no offset change anywhere near it (zoneinfo only)."""
    tz = ZoneInfo(zone)
    base = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(hours=16)
    offsets = {(base + timedelta(minutes=30 * i)).astimezone(tz).utcoffset() for i in range(130)}
    return len(offsets) == 1


def _fires(expr: str, zone: str, start: datetime, **kw: object) -> list[datetime]:
    timing = Timing(trigger=CronTrigger.parse(expr), timezone=zone, **kw)  # type: ignore[arg-type]
    return [p.nominal_at for p in islice(plan(timing, start, inclusive=True), N)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expr=cron_expressions(), zone=st.sampled_from(ZONES), start=starts)
def test_fires_increase_never_repeat_and_match_the_oracle(
    expr: str, zone: str, start: datetime
) -> None:
    """Strictly increasing, unique, and equal to cronsim on every transition-free date."""
    fires = _fires(expr, zone, start)
    assert fires, expr
    assert all(a < b for a, b in pairwise(fires))
    assert fires[0] >= start
    tz = ZoneInfo(zone)
    last = fires[-1]
    local_start = start.astimezone(tz).replace(tzinfo=None) - timedelta(days=1)
    local_end = last.astimezone(tz).replace(tzinfo=None) + timedelta(days=1)
    oracle: list[datetime] = []
    for wall in CronSim(expr, local_start - timedelta(seconds=1)):
        if wall > local_end:
            break
        if not _stable_date(zone, wall.date()):
            continue
        instant = wall.replace(tzinfo=tz).astimezone(UTC)
        if start <= instant <= last:
            oracle.append(instant)
    ours = [f for f in fires if _stable_date(zone, f.astimezone(tz).date())]
    assert ours == oracle


@settings(max_examples=150, deadline=None)
@given(expr=cron_expressions(), start=starts)
def test_utc_matches_the_oracle_exactly(expr: str, start: datetime) -> None:
    """In UTC there is no DST: the fire list is cronsim's, element for element."""
    fires = _fires(expr, "UTC", start)
    naive = start.replace(tzinfo=None)
    oracle = [
        w.replace(tzinfo=UTC) for w in islice(CronSim(expr, naive - timedelta(microseconds=1)), N)
    ]
    assert fires == oracle


@settings(max_examples=100, deadline=None)
@given(
    expr=cron_expressions(),
    zone=st.sampled_from(ZONES),
    start=starts,
    span=st.integers(1, 20 * 24 * 3600),
)
def test_fires_stay_inside_start_at_and_end_at(
    expr: str, zone: str, start: datetime, span: int
) -> None:
    """Every fire lies in [start_at, end_at]; querying from before start_at changes nothing."""
    end = start + timedelta(seconds=span)
    fires = _fires(expr, zone, start - timedelta(days=3), start_at=start, end_at=end)
    assert all(start <= f <= end for f in fires)
    assert fires == [f for f in _fires(expr, zone, start, end_at=end) if f >= start][: len(fires)]


@settings(max_examples=100, deadline=None)
@given(expr=cron_expressions(), zone=st.sampled_from(ZONES), start=starts, k=st.integers(1, N - 2))
def test_resuming_from_any_fire_continues_the_same_sequence(
    expr: str, zone: str, start: datetime, k: int
) -> None:
    """Asking for fires after the k-th fire gives the tail of the same sequence."""
    fires = _fires(expr, zone, start)
    timing = Timing(trigger=CronTrigger.parse(expr), timezone=zone)
    tail = [p.nominal_at for p in islice(plan(timing, fires[k - 1]), len(fires) - k)]
    assert tail == fires[k:]


@st.composite
def six_field_expressions(draw: st.DrawFn) -> str:
    second = draw(_field(0, 59, equal_ranges=False))
    minute = draw(_field(0, 59, equal_ranges=False))
    hour = draw(st.one_of(st.just("*"), _field(0, 23, equal_ranges=False)))
    return f"{second} {minute} {hour} * * *"


@settings(max_examples=60, deadline=None)
@given(expr=six_field_expressions(), start=starts)
def test_six_field_expressions_match_croniter_in_utc(expr: str, start: datetime) -> None:
    """Leading-seconds expressions agree with croniter's own iteration where DST is absent."""
    fires = _fires(expr, "UTC", start)
    it = croniter(expr, start - timedelta(microseconds=1), second_at_beginning=True)
    oracle = [it.get_next(datetime) for _ in range(N)]
    assert fires == oracle


@settings(max_examples=100, deadline=None)
@given(
    minute=st.integers(0, 59),
    hour=st.integers(0, 23),
    days=st.lists(st.integers(1, 31), max_size=3, unique=True),
    start=starts,
)
def test_lw_matches_cronsim(minute: int, hour: int, days: list[int], start: datetime) -> None:
    """`LW`, alone or with other days of the month, fires where cronsim says (UTC)."""
    expr = f"{minute} {hour} {','.join([*map(str, days), 'LW'])} * *"
    fires = _fires(expr, "UTC", start)
    naive = start.replace(tzinfo=None)
    oracle = [
        w.replace(tzinfo=UTC) for w in islice(CronSim(expr, naive - timedelta(microseconds=1)), N)
    ]
    assert fires == oracle

"""Triage of late fires (domain.misfire), on synthetic per-minute fires."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from domain.firing import SkipReason
from domain.misfire import MisfireRules, triage
from domain.planning import PlannedFire
from domain.schedule import MisfirePolicy

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def minutely(start: datetime, skipped: frozenset[int] = frozenset()) -> Iterator[PlannedFire]:
    k = 0
    while True:
        at = start + k * MINUTE
        yield PlannedFire(at, at, SkipReason.CALENDAR if k in skipped else None)
        k += 1


def rules(policy: MisfirePolicy, **overrides: object) -> MisfireRules:
    values: dict[str, object] = {
        "policy": policy,
        "catchup_window": timedelta(hours=24),
        "max_catchup": 100,
        "threshold": timedelta(seconds=30),
        **overrides,
    }
    return MisfireRules(**values)  # type: ignore[arg-type]


def test_the_head_stops_at_the_first_fire_that_is_not_late() -> None:
    """Fires from t-5m: five are late; the rest (t onwards) start with t."""
    head = triage(
        minutely(NOW - 5 * MINUTE), now=NOW, rules=rules(MisfirePolicy.SKIP), run_limit=10
    )
    assert [f.nominal_at for f in head.missed] == [NOW - k * MINUTE for k in (5, 4, 3, 2, 1)]
    assert (head.run, head.summary, head.fires) == ([], None, 5)
    assert next(head.rest).nominal_at == NOW


def test_run_once_runs_only_the_latest_late_fire() -> None:
    """Of five late fires the newest runs; the four older ones are missed."""
    head = triage(
        minutely(NOW - 5 * MINUTE), now=NOW, rules=rules(MisfirePolicy.RUN_ONCE), run_limit=10
    )
    assert [f.nominal_at for f in head.run] == [NOW - MINUTE]
    assert len(head.missed) == 4


def test_run_all_stops_at_the_run_limit_and_leaves_the_rest_late() -> None:
    """run_all with a limit of 3: three run now; the fourth late fire is next in line."""
    head = triage(
        minutely(NOW - 5 * MINUTE), now=NOW, rules=rules(MisfirePolicy.RUN_ALL), run_limit=3
    )
    assert [f.nominal_at for f in head.run] == [NOW - k * MINUTE for k in (5, 4, 3)]
    assert next(head.rest).nominal_at == NOW - 2 * MINUTE


def test_a_calendar_skip_among_late_fires_stays_a_skip_and_is_not_counted() -> None:
    """Skipped fires are kept as skipped records and do not count as fires of the rule."""
    head = triage(
        minutely(NOW - 5 * MINUTE, skipped=frozenset({1})),
        now=NOW,
        rules=rules(MisfirePolicy.RUN_ALL),
        run_limit=10,
    )
    assert [f.skipped for f in head.missed] == [SkipReason.CALENDAR]
    assert (len(head.run), head.fires) == (4, 4)


def test_a_span_too_long_to_walk_jumps_to_the_window_and_says_the_count_is_a_bound() -> None:
    """A year of minutely fires, walk limit 1,000, window 1 h: the summary counts the
    walked fires ("at least"), and the fires inside the window are triaged normally."""
    start = NOW - timedelta(days=365)
    head = triage(
        minutely(start),
        now=NOW,
        rules=rules(MisfirePolicy.RUN_ONCE, catchup_window=timedelta(hours=1), max_catchup=10),
        run_limit=10,
        replan=minutely,
        walk_limit=1_000,
    )
    assert head.summary is not None
    assert not head.summary.exact
    assert head.summary.reason.startswith("misfire: at least ")
    assert head.summary.count == 1_000 + 60 - 1 - 10  # walked + in window - run - kept
    assert head.summary.first_at == start
    assert [f.nominal_at for f in head.run] == [NOW - MINUTE]
    assert len(head.missed) == 10
    assert next(head.rest).nominal_at == NOW

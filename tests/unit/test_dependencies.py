"""The dependency period rule: an upstream's latest fire at or before the downstream's."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.dependencies import Verdict, upstream_fire, verdict
from domain.run import RunStatus
from domain.timing import Timing
from domain.triggers import CronTrigger, OneShotTrigger

REPORT = datetime(2026, 11, 3, 5, 0, tzinfo=UTC)  # 06:00 in Berlin


def cron(expression: str) -> Timing:
    return Timing(trigger=CronTrigger.parse(expression), timezone="Europe/Berlin")


def test_a_daily_upstream_pairs_with_the_same_day() -> None:
    """Import at 02:00, report at 06:00: the report of the 3rd waits for that 02:00."""
    assert upstream_fire(cron("0 2 * * *"), REPORT, "a") == datetime(2026, 11, 3, 1, 0, tzinfo=UTC)


def test_an_hourly_upstream_pairs_with_its_last_hour_and_a_fire_at_t_counts() -> None:
    """Hourly at :00: the 06:00 report depends on the 06:00 fire itself."""
    assert upstream_fire(cron("0 * * * *"), REPORT, "a") == REPORT


def test_a_monthly_upstream_is_found_far_back_and_a_later_one_imposes_nothing() -> None:
    """Monthly on the 1st at 03:00 pairs with this month's; a one-shot after T: None."""
    assert upstream_fire(cron("0 3 1 * *"), REPORT, "a") == datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
    later = Timing(trigger=OneShotTrigger.parse("2026-12-01T00:00:00Z"))
    assert upstream_fire(later, REPORT, "a") is None


def test_verdicts() -> None:
    """Succeeded releases; dead, missed, skipped, cancelled fail; the rest wait."""
    assert verdict(RunStatus.SUCCEEDED) is Verdict.GO
    for failed in (RunStatus.DEAD, RunStatus.MISSED, RunStatus.SKIPPED, RunStatus.CANCELLED):
        assert verdict(failed) is Verdict.FAIL
    for waiting in (None, RunStatus.PENDING, RunStatus.RUNNING, RunStatus.WAITING):
        assert verdict(waiting) is Verdict.WAIT

"""The dashboard's pure parts: triggers in words, durations, the upcoming heatmap, the
CSRF token and the sign-in redirect guard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from adapters.http.ui import session, views
from adapters.http.ui.access import _local
from domain.errors import InvalidSchedule
from domain.triggers import (
    CronTrigger,
    DelayMode,
    EventTrigger,
    FixedDelayTrigger,
    OneShotTrigger,
    RRuleTrigger,
)

T0 = datetime(2026, 12, 1, 22, 17, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("* * * * *", "every minute"),
        ("* * * * * *", "every second"),
        ("*/15 * * * * *", "every 15 seconds"),
        ("*/5 * * * *", "every 5 minutes"),
        ("0 * * * *", "every hour at :00"),
        ("30 2 * * *", "every day at 02:30"),
        ("30 2 * * 1-5", "at 02:30 on weekdays (Mon–Fri)"),
        ("0 9,17 * * 0,6", "at 09:00, 17:00 on weekends"),
        ("0 6 24 * *", "at 06:00 on day 24 of the month"),
        ("0 6 L * *", "at 06:00 on the last day of the month"),
        ("0 0 1 1,7 *", "at 00:00 on day 1 of the month in Jan, Jul"),
        ("0 */2 * * *", "every 2 hours at :00"),
        ("0 8 * * 2,4", "at 08:00 on Tue, Thu"),
    ],
)
def test_cron_in_words(expression: str, words: str) -> None:
    """Common cron shapes read as a sentence."""
    assert views.trigger_words(CronTrigger.parse(expression)) == words


def test_other_triggers_in_words_and_as_written() -> None:
    """RRULE, fixed delay (both modes), one-shot and event triggers: words and text."""
    rrule = RRuleTrigger.parse("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,FR;BYHOUR=9;BYMINUTE=30")
    assert views.trigger_words(rrule) == "every 2 weeks on Mon, Fri at 09:30"
    assert views.trigger_written(rrule) == rrule.recurrence.text
    rate = FixedDelayTrigger(every=timedelta(minutes=15))
    assert views.trigger_words(rate) == "every 15 minutes"
    assert views.trigger_written(rate) == "PT15M (rate)"
    after = FixedDelayTrigger(every=timedelta(hours=1), mode=DelayMode.DELAY)
    assert views.trigger_words(after) == "1 hour after each run ends"
    once = OneShotTrigger(at=T0)
    assert views.trigger_words(once) == "once, at 2026-12-01 22:17"
    event = EventTrigger(subject="orders.*", debounce=timedelta(seconds=5))
    assert views.trigger_words(event) == "on each event orders.*, debounced 5 seconds"


def test_durations_and_relative_times() -> None:
    """Spans from milliseconds to days; ``in``/``ago`` around now."""
    assert views.seconds_words(None) == "–"
    assert views.seconds_words(0.35) == "350 ms"
    assert views.seconds_words(4.25) == "4.2 s"
    assert views.seconds_words(180) == "3 min"
    assert views.seconds_words(2 * 3600 + 300) == "2 h 5 min"
    assert views.seconds_words(5 * 86400 + 7200) == "5 d 2 h"
    assert views.ago(T0 + timedelta(minutes=5), T0) == "in 5 min"
    assert views.ago(T0 - timedelta(hours=3), T0) == "3 h 0 min ago"
    assert views.ago(T0, T0) == "now"


def test_heatmap_counts_fires_per_cell_and_finds_crowded_minutes() -> None:
    """24 h: 24 hourly rows of 5-minute cells from the current hour; 7 days: daily rows
    of hours; fires outside the span are left out; shades rise with the count."""
    fires = [T0 + timedelta(minutes=3)] * 4 + [T0 + timedelta(hours=2)] + [T0 + timedelta(days=2)]
    day = views.heatmap(fires, start=T0, span="24h", schedules=2)
    assert day.start == T0.replace(minute=0)
    assert len(day.rows) == 24
    assert day.rows[0][1][4] == 4  # 22:20-22:25
    assert day.rows[2][1][3] == 1  # 00:15-00:20
    assert day.total == 5
    assert day.busiest == 4
    assert day.crowded == [(T0 + timedelta(minutes=3), 4)]
    assert [day.level(n) for n in (0, 1, 2, 4)] == [0, 1, 2, 4]
    week = views.heatmap(fires, start=T0, span="7d", schedules=2)
    assert len(week.rows) == 7
    assert week.rows[0][0] == "Tue 01 Dec"
    assert week.total == 6
    assert week.rows[2][1][22] == 1


def test_csrf_token_is_bound_to_the_session() -> None:
    """The token verifies only with the session it was made for."""
    token = session.csrf_token("session-a")
    assert session.csrf_ok("session-a", token)
    assert not session.csrf_ok("session-b", token)
    assert not session.csrf_ok("session-a", "")
    assert not session.csrf_ok(None, token)
    assert not session.csrf_ok("session-a", None)


@pytest.mark.parametrize(
    ("target", "where"),
    [
        ("/ui/runs?status=dead", "/ui/runs?status=dead"),
        ("https://evil.example/ui", "/ui/schedules"),
        ("//evil.example/ui", "/ui/schedules"),
        ("/ui\\evil", "/ui/schedules"),
        ("/health/live", "/ui/schedules"),
        ("/ui/signin", "/ui/schedules"),
        (None, "/ui/schedules"),
    ],
)
def test_redirects_stay_on_the_dashboard(target: str | None, where: str) -> None:
    """After sign-in or an action, only a dashboard path is followed."""
    assert _local(target) == where


def _field(low: int, high: int) -> st.SearchStrategy[str]:
    value = st.integers(low, high)
    return st.one_of(
        st.just("*"),
        st.integers(2, max(2, high // 2)).map(lambda n: f"*/{n}"),
        value.map(str),
        st.tuples(value, value).map(lambda p: f"{min(p)}-{max(p)}"),
        st.lists(value, min_size=2, max_size=4, unique=True).map(
            lambda vs: ",".join(map(str, sorted(vs)))
        ),
    )


CRON = st.tuples(_field(0, 59), _field(0, 23), _field(1, 28), _field(1, 12), _field(0, 6)).map(
    " ".join
)


@given(CRON, st.booleans())
def test_every_cron_reads_as_words(expression: str, seconds: bool) -> None:
    """Any valid cron (with or without seconds) gets a non-empty sentence, never an
    error that would take its page down."""
    text = f"0 {expression}" if seconds else expression
    try:
        trigger = CronTrigger.parse(text)
    except InvalidSchedule:
        assume(False)
        return
    words = views.trigger_words(trigger)
    assert words
    assert views.trigger_written(trigger) == text

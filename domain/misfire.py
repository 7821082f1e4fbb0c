"""Missed fires (docs/semantics.md, *Misfires*): what becomes of fires whose dispatch
time passed while nothing materialised them (every replica down, or the schedule
paused).

A fire is *late* when its dispatch time is older than ``now - threshold`` at the moment
it is materialised. The threshold (a scheduler setting, 60 s by default) keeps the tail of
an ordinary burst, materialised a few seconds after its instant, from counting as
missed. Late fires are triaged in one pass per schedule:

- fires whose nominal time is older than ``now - catchup_window`` are never run;
- ``run_all``: every other late fire is run, oldest first (at most ``run_limit`` per
  pass; the rest stay late and are triaged on the next pass);
- ``run_once``: only the latest late fire inside the window is run;
- ``skip``: none is run.

Every late fire that is not run is *missed*. The latest ``max_catchup`` of them are
recorded one by one; any older ones are counted in a single summary record. Fires the
calendar, a window or DST skipped stay ``skipped`` records when they are among the kept
ones, and are counted in the summary otherwise. Nothing is dropped silently.

A span too long to walk (more than ``walk_limit`` fires before the catch-up window) is
not walked to its end: the walk jumps to the window's start and the summary says its
count is a lower bound.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import chain

from domain.planning import PlannedFire
from domain.schedule import MisfirePolicy

WALK_LIMIT = 200_000


@dataclass(frozen=True, slots=True)
class MissedSummary:
    """Late fires not recorded one by one: how many, and the nominal span they cover."""

    count: int
    first_at: datetime
    last_at: datetime
    exact: bool = True

    @property
    def reason(self) -> str:
        bound = "" if self.exact else "at least "
        return (
            f"misfire: {bound}{self.count} missed fires from {self.first_at.isoformat()} "
            f"to {self.last_at.isoformat()} (beyond max_catchup)"
        )


@dataclass(frozen=True, slots=True)
class Triage:
    run: list[PlannedFire]  # late fires to run, oldest first
    missed: list[PlannedFire]  # recorded one by one (missed, or skipped if it was skipped)
    summary: MissedSummary | None
    fires: int  # consumed fires that count as fires of the rule (not skipped ones)
    rest: Iterator[PlannedFire]  # the fires after the consumed head, in order


@dataclass(frozen=True, slots=True)
class MisfireRules:
    policy: MisfirePolicy
    catchup_window: timedelta
    max_catchup: int
    threshold: timedelta = timedelta(seconds=60)


def is_late(dispatch_at: datetime, now: datetime, threshold: timedelta) -> bool:
    return dispatch_at < now - threshold


def triage(
    fires: Iterator[PlannedFire],
    *,
    now: datetime,
    rules: MisfireRules,
    run_limit: int,
    replan: Callable[[datetime], Iterator[PlannedFire]] | None = None,
    walk_limit: int = WALK_LIMIT,
) -> Triage:
    """Consume the late fires at the head of ``fires`` (in nominal order).

    ``replan(at)`` restarts planning at ``at`` (inclusive); it is used to jump over a span
    of more than ``walk_limit`` fires before the catch-up window.
    """
    window_start = now - rules.catchup_window
    kept: deque[PlannedFire] = deque()
    summarised = 0
    first_at: datetime | None = None
    last_at: datetime | None = None
    exact = True
    to_run: list[PlannedFire] = []
    candidate: PlannedFire | None = None  # run_once: the latest late fire in the window
    counted = walked = 0
    iterator = fires
    rest: Iterator[PlannedFire] = iter(())

    def miss(fire: PlannedFire) -> None:
        nonlocal summarised, first_at, last_at
        kept.append(fire)
        if len(kept) > rules.max_catchup:
            old = kept.popleft().nominal_at
            summarised += 1
            first_at = first_at or old
            last_at = old

    while (fire := next(iterator, None)) is not None:
        if not is_late(fire.dispatch_at, now, rules.threshold):
            rest = chain((fire,), iterator)
            break
        walked += 1
        counted += fire.skipped is None
        inside = fire.nominal_at >= window_start
        if fire.skipped is not None or not inside or rules.policy is MisfirePolicy.SKIP:
            miss(fire)
        elif rules.policy is MisfirePolicy.RUN_ALL:
            to_run.append(fire)
            if len(to_run) >= run_limit:
                rest = iterator
                break
        else:
            if candidate is not None:
                miss(candidate)
            candidate = fire
        if walked >= walk_limit and not inside and replan is not None:
            # Too long to walk: jump to the window's start. The fires between here and
            # there are not counted, so the summary becomes a lower bound.
            exact = False
            walked = 0
            iterator = replan(window_start)
    if candidate is not None:
        to_run.append(candidate)
    summary = None
    if summarised:
        assert first_at is not None
        assert last_at is not None
        summary = MissedSummary(summarised, first_at, last_at, exact)
    return Triage(to_run, list(kept), summary, counted, rest)

"""Dependencies between schedules: the period rule.

A downstream fire at nominal time ``T`` depends, for each upstream schedule, on that
upstream's **latest fire with nominal time at or before T**, computed from the upstream's
rule (not from whatever runs exist, so a lagging upstream is waited for rather than
matched with its previous period). A daily 02:00 import and a daily 06:00 report pair up
on the same day; an hourly upstream pairs with its last hour before the report. An
upstream with no fire at or before ``T`` (created later) imposes nothing.

The upstream run for that fire decides: ``succeeded`` releases the downstream run;
``dead``, ``missed``, ``skipped`` or ``cancelled`` (the period's work did not happen)
fails it with ``DEPENDENCY_FAILED``; anything else (not yet materialised, waiting,
pending, running, retrying) keeps it waiting.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

from domain.planning import plan
from domain.run import RunStatus
from domain.timing import Timing

# Look back in growing windows: a frequent upstream is found in the first, cheaply; a
# yearly one in the last. Beyond the last, the upstream has no fire to wait for.
_WINDOWS = (
    timedelta(minutes=1),
    timedelta(hours=1),
    timedelta(days=1),
    timedelta(days=32),
    timedelta(days=400),
)
_FAILED = frozenset({RunStatus.DEAD, RunStatus.MISSED, RunStatus.SKIPPED, RunStatus.CANCELLED})


class Verdict(enum.Enum):
    GO = "go"
    WAIT = "wait"
    FAIL = "fail"


def upstream_fire(timing: Timing, at: datetime, schedule_id: str) -> datetime | None:
    """The upstream's latest fire (nominal) at or before ``at``, or None."""
    for window in _WINDOWS:
        latest = None
        for fire in plan(timing, at - window, inclusive=True, schedule_id=schedule_id):
            if fire.nominal_at > at:
                break
            latest = fire.nominal_at
        if latest is not None:
            return latest
    return None


def verdict(status: RunStatus | None) -> Verdict:
    """What the upstream run's status (None: no run yet) means for the downstream."""
    if status is RunStatus.SUCCEEDED:
        return Verdict.GO
    if status in _FAILED:
        return Verdict.FAIL
    return Verdict.WAIT

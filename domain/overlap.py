"""Overlap (docs/semantics.md, *Overlap*): what a fire does when earlier runs of its
schedule are still ``scheduled``, ``pending`` or ``running`` (*active*).

- ``skip`` (default): the fire is recorded ``skipped`` with reason ``overlap``.
- ``buffer_one``: the fire waits behind the active runs, unless one is already waiting
  (then it is skipped). ``buffer_all``: the same, up to ``max_buffered`` waiting.
- ``replace``: the active runs are cancelled (a running one's worker loses its lease and
  observes it at its next heartbeat), then the fire runs.
- ``allow``: the fire runs alongside; the job's ``max_concurrency`` bounds how many run
  at once.

A waiting (*buffered*) run is only claimable once every earlier run of its schedule has
ended, so buffered fires run one at a time, in order.

Catch-up (``admit_overdue``): fires that came due while nothing materialised them (a
leader hand-over, a burst's tail: late, but less than the misfire threshold) are decided
as the leader would have decided them on time, as far as it can know: against the runs
that existed before them (active then, still active now). When none did, their own runs
had not started at each other's times, so under ``skip`` and ``buffer_one`` they do not
overlap each other: each waits behind the ones before it (buffered, run one at a time in
order), at most ``max_buffered`` of them. When one did, they meet it and each other as
fires on time do.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from domain.run import Run, RunStatus
from domain.schedule import OverlapPolicy

ACTIVE = frozenset({RunStatus.WAITING, RunStatus.SCHEDULED, RunStatus.PENDING, RunStatus.RUNNING})
_WAITING = frozenset({RunStatus.WAITING, RunStatus.SCHEDULED, RunStatus.PENDING})


class Admission(enum.Enum):
    RUN = "run"  # nothing in the way (or allow)
    BUFFER = "buffer"  # run after the active ones end
    SKIP = "skip"  # recorded skipped, reason overlap
    REPLACE = "replace"  # cancel the active ones, then run


@dataclass(frozen=True, slots=True)
class Decision:
    admission: Admission
    cancel: tuple[Run, ...] = ()  # REPLACE: the active runs to cancel


def admit(policy: OverlapPolicy, max_buffered: int, active: Sequence[Run]) -> Decision:
    """The decision for a new fire, given its schedule's active runs."""
    if not active or policy is OverlapPolicy.ALLOW:
        return Decision(Admission.RUN)
    if policy is OverlapPolicy.REPLACE:
        return Decision(Admission.REPLACE, tuple(active))
    if policy is OverlapPolicy.SKIP:
        return Decision(Admission.SKIP)
    waiting = sum(1 for run in active if run.status in _WAITING and run.buffered)
    room = 1 if policy is OverlapPolicy.BUFFER_ONE else max_buffered
    return Decision(Admission.BUFFER if waiting < room else Admission.SKIP)


_QUEUE_OVERDUE = frozenset({OverlapPolicy.SKIP, OverlapPolicy.BUFFER_ONE})


def admit_overdue(
    policy: OverlapPolicy,
    max_buffered: int,
    active: Sequence[Run],
    caught_up: Sequence[Run],
) -> Decision:
    """The decision for an overdue fire of a catch-up, given the schedule's other active
    runs (from before the catch-up, or a misfire's run) and the runs of the catch-up's
    earlier overdue fires (``caught_up``). With none of the former, ``skip`` and
    ``buffer_one`` queue it behind the latter; otherwise every one of them counts, as for
    a fire on time."""
    if policy in _QUEUE_OVERDUE and caught_up and not active:
        return Decision(Admission.BUFFER if len(caught_up) <= max_buffered else Admission.SKIP)
    return admit(policy, max_buffered, [*active, *caught_up])

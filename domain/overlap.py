"""Overlap (SEMANTICS 8): what a fire does when earlier runs of its schedule are still
``scheduled``, ``pending`` or ``running`` (*active*).

- ``skip`` (default): the fire is recorded ``skipped`` with reason ``overlap``.
- ``buffer_one``: the fire waits behind the active runs, unless one is already waiting
  (then it is skipped). ``buffer_all``: the same, up to ``max_buffered`` waiting.
- ``replace``: the active runs are cancelled (a running one's worker loses its lease and
  observes it at its next heartbeat), then the fire runs.
- ``allow``: the fire runs alongside; the job's ``max_concurrency`` bounds how many run
  at once.

A waiting (*buffered*) run is only claimable once every earlier run of its schedule has
ended, so buffered fires run one at a time, in order.
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

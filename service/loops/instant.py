"""The instant path (docs/semantics.md, *Instant delivery*): the materialiser delivers a
broker target's fire itself, inside the pass that makes its run.

One fenced transaction, opened ahead of the fires' dispatch instant: lock the due
schedules, plan, admit and advance them, write each instant fire's run already
``succeeded`` (attempt 1 in the run row) with its one ``run.succeeded`` event
(``stage``), then at each dispatch instant publish the prepared messages
(``Nats-Msg-Id`` = run id) and wait for the stream's acknowledgements (``send``), then
fence and commit. So after the instant only the publish, the acks and the commit are
left.

A message not acknowledged raises ``InstantRefused``: the pass rolls back, nothing of it
is kept, and the scheduler runs the pass again with the instant path off for a while,
so those fires go the lease path (claimed, delivered, retried; their messages carry the
same ``Nats-Msg-Id``, so a copy that did reach the stream is stored once). A pass that
cannot commit after publishing (deposed, killed, the database gone) is the same case:
the next leader makes the same runs (same ids) and publishes again - at-least-once,
deduplicated by the stream's duplicate window.

A fire takes this path only when nothing the lease path enforces applies to it: its
job's target is EVENT or QUEUE and enabled, the job has no concurrency cap, no per-tenant
running cap is in force, no earlier run of its schedule is active, it waits for no
upstream run and it is not buffered (the materialiser's ``_admit`` decides the last
three).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from domain.events import DomainEvent
from domain.ids import RunId, WorkerId
from domain.job import Job, TargetKind
from domain.ports import Clock, InstantTarget
from domain.run import Run, RunStatus

log = logging.getLogger("kairos.instant")

BROKER_KINDS = frozenset({TargetKind.EVENT, TargetKind.QUEUE})


class InstantRefused(Exception):
    """A message of the pass was not acknowledged: the pass rolls back."""


@dataclass(frozen=True, slots=True)
class InstantDelivery:
    """What the materialiser needs to deliver on the instant path: the broker targets
    it may publish to, the clock it waits on, and the pool that signs the attempts."""

    targets: Mapping[TargetKind, InstantTarget]
    clock: Clock
    worker_id: WorkerId
    # The operator's per-tenant cap on running runs: while one is set, every run goes
    # through a lease, where the cap is counted.
    max_running: int | None = None

    def takes(self, job: Job) -> bool:
        """Whether the job's fires may take the instant path (the run's own conditions,
        an earlier active run or upstream, are the materialiser's)."""
        if self.max_running is not None or job.max_concurrency is not None or job.disabled:
            return False
        target = self.targets.get(job.target.kind)
        return target is not None and target.available


@dataclass(frozen=True, slots=True)
class Staged:
    """A pass's staged messages: grouped by dispatch instant and target kind, in
    dispatch order, each with its run's id and lateness (publish - nominal, seconds)."""

    groups: tuple[tuple[datetime, TargetKind, tuple[tuple[object, RunId, float], ...]], ...]

    @property
    def messages(self) -> int:
        return sum(len(items) for _, _, items in self.groups)

    @property
    def lateness(self) -> tuple[float, ...]:
        return tuple(late for _, _, items in self.groups for _, _, late in items)

    def keep(self, inserted: set[RunId]) -> Staged:
        """Only the messages of runs the pass inserted: a run whose key existed already
        (an earlier pass's, a backfill's) is not this pass's to deliver."""
        kept = (
            (at, kind, tuple(item for item in items if item[1] in inserted))
            for at, kind, items in self.groups
        )
        return Staged(tuple(group for group in kept if group[2]))


def stage(
    instant: InstantDelivery,
    runs: Sequence[Run],
    candidates: Sequence[tuple[int, Job]],
    *,
    at: datetime,
) -> tuple[list[Run], list[DomainEvent], Staged]:
    """The pass's runs with each candidate (``runs[index]``, a dispatched run) delivered,
    their events, and their messages ready to send. ``at``: the database time now. The
    attempt records its dispatch instant (or ``at``, if the pass is late for it) as when
    it started and ended: its acknowledgement comes before the pass commits. A candidate
    a later fire of its schedule cancelled in this pass (overlap ``replace``) is left
    as it is."""
    out = list(runs)
    events: list[DomainEvent] = []
    groups: dict[tuple[datetime, TargetKind], list[tuple[int, Run, list[DomainEvent], Job]]]
    groups = {}
    for index, job in candidates:
        run = runs[index]
        if run.status not in (RunStatus.SCHEDULED, RunStatus.PENDING):
            continue  # cancelled after it was admitted: nothing to deliver
        delivered, run_events = run.deliver_instantly(
            worker_id=instant.worker_id, started_at=max(run.dispatch_at, at)
        )
        key = (run.dispatch_at, job.target.kind)
        groups.setdefault(key, []).append((index, delivered, run_events, job))
    staged: list[tuple[datetime, TargetKind, tuple[tuple[object, RunId, float], ...]]] = []
    for (dispatch_at, kind), items in sorted(groups.items(), key=lambda g: g[0][0]):
        ready: list[tuple[object, RunId, float]] = []
        prepared = instant.targets[kind].prepare([(run, job) for _, run, _, job in items])
        for (index, delivered, run_events, _), message in zip(items, prepared, strict=True):
            if isinstance(message, Exception):
                continue  # stays dispatched: the lease path records why it fails
            out[index] = delivered
            events.extend(run_events)
            late = (delivered.attempts[0].started_at - delivered.nominal_at).total_seconds()
            ready.append((message, delivered.id, late))
        if ready:
            staged.append((dispatch_at, kind, tuple(ready)))
    return out, events, Staged(tuple(staged))


async def send(instant: InstantDelivery, staged: Staged, *, now: datetime) -> None:
    """Publish each group at its dispatch instant and wait for its acknowledgements.
    ``now``: the database time when the clock read ``instant.clock.now()`` began this
    pass's waits. Raises ``InstantRefused`` if any message was not acknowledged."""
    began = instant.clock.now()
    for dispatch_at, kind, items in staged.groups:
        wait = (dispatch_at - now - (instant.clock.now() - began)).total_seconds()
        if wait > 0:
            await instant.clock.sleep(wait)
        messages = [message for message, _, _ in items]
        answers = await instant.targets[kind].send(messages)
        refused = [answer for answer in answers if answer is not None]
        if refused:
            log.warning(
                "instant path: %d of %d %s messages not acknowledged (%s); the pass rolls "
                "back and its fires go through a lease",
                len(refused),
                len(messages),
                kind.value,
                refused[0],
            )
            raise InstantRefused(refused[0])

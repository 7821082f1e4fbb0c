"""The Run aggregate: one fire of a schedule (or one manual trigger), and its attempts.

Lifecycle (docs/semantics.md, *Run lifecycle*):
``scheduled -> pending -> running -> succeeded | failed``; a failed attempt with attempts
left goes back to ``pending`` after a backoff, otherwise ``dead``. ``cancelled``,
``missed`` and ``skipped`` are terminal and carry a reason. A new run starts in the status
its factory names: ``Run.dispatched``, ``waiting_on_upstream``, ``skipped``, ``missed``.

One state machine: the aggregate and its value types stay in one module (about 550
lines) so every transition and the invariants it keeps are read together.
"""

from __future__ import annotations

import enum
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from domain.errors import InvalidTransition, LeaseLost
from domain.events import DomainEvent, EventType
from domain.ids import (
    BackfillId,
    CalendarId,
    JobId,
    RunId,
    ScheduleId,
    TenantId,
    WorkerId,
    run_id_for,
)
from domain.job import Priority


class RunStatus(enum.StrEnum):
    WAITING = "waiting"  # for its upstream schedules' runs of the same period
    SCHEDULED = "scheduled"
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DEAD = "dead"
    CANCELLED = "cancelled"
    MISSED = "missed"
    SKIPPED = "skipped"


TERMINAL = frozenset(
    {
        RunStatus.SUCCEEDED,
        RunStatus.DEAD,
        RunStatus.CANCELLED,
        RunStatus.MISSED,
        RunStatus.SKIPPED,
    }
)


class RunOrigin(enum.StrEnum):
    """What made the run: its schedule's rule, a manual trigger, or a backfill."""

    SCHEDULE = "schedule"
    MANUAL = "manual"
    BACKFILL = "backfill"
    EVENT = "event"


class Outcome(enum.StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMEOUT = "timeout"
    LEASE_EXPIRED = "lease_expired"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    number: int
    worker_id: WorkerId
    started_at: datetime
    ended_at: datetime | None = None
    outcome: Outcome | None = None
    error: str | None = None
    # What the target answered (HTTP: status, latency_ms, a truncated body), if anything.
    detail: Mapping[str, Any] | None = None

    @property
    def duration(self) -> timedelta | None:
        return None if self.ended_at is None else self.ended_at - self.started_at


@dataclass(frozen=True, slots=True, kw_only=True)
class NewRun:
    """What a new run records whatever its initial status (``Run.dispatched``,
    ``waiting_on_upstream``, ``skipped``, ``missed``): its key, when it is due, what it
    delivers (from its job at the time of the fire) and why it exists.

    Its id is derived from ``(tenant, schedule, nominal_at)``, so materialising a fire
    twice gives the same run; ``run_id`` overrides it (a manual trigger's idempotency key
    names its run)."""

    tenant_id: TenantId
    schedule_id: ScheduleId
    job_id: JobId
    nominal_at: datetime
    dispatch_at: datetime
    max_attempts: int
    priority: Priority
    capability: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    calendar: tuple[CalendarId, int] | None = None
    origin: RunOrigin = RunOrigin.SCHEDULE
    run_id: RunId | None = None
    backfill_id: BackfillId | None = None
    traceparent: str | None = None
    # The schedule's and the job's names at the time of the fire (shown beside the ids).
    schedule_name: str | None = None
    job_name: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    id: RunId
    tenant_id: TenantId
    schedule_id: ScheduleId
    job_id: JobId
    nominal_at: datetime
    dispatch_at: datetime
    status: RunStatus
    reason: str | None = None
    attempt: int = 0
    max_attempts: int = 1
    priority: Priority = Priority.NORMAL
    capability: str
    available_at: datetime
    lease_until: datetime | None = None
    timeout_at: datetime | None = None
    # The fencing value: grows with every lease, orders writes (a stale one loses).
    lease_token: int = 0
    # The lease's proof of possession: random, handed only to the worker that claimed
    # the run. Whoever acts on the lease must present it (and be that worker).
    lease_secret: str | None = None
    worker_id: WorkerId | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)
    calendar: tuple[CalendarId, int] | None = None
    attempts: tuple[Attempt, ...] = ()
    # A missed-fires summary (docs/semantics.md, *Misfires*): how many late fires this
    # one record stands for.
    missed_count: int | None = None
    # Admitted behind earlier active runs of its schedule (overlap buffer_one/buffer_all):
    # claimable only once every earlier run of the schedule has ended.
    buffered: bool = False
    origin: RunOrigin = RunOrigin.SCHEDULE
    backfill_id: BackfillId | None = None
    # A cancel asked for while running: its worker is told (heartbeat answer), its lease
    # is no longer extended, and the attempt ends ``cancelled`` however it ends.
    cancel_requested: str | None = None
    # W3C traceparent of the request that made the run (manual triggers), if traced.
    traceparent: str | None = None
    # The tzdata release whose zone rules planned this fire, as the store recorded it
    # (a fact about the planning process, not part of the run's state: not compared).
    tzdata_version: str | None = field(default=None, compare=False)
    # The schedule's and the job's names when the run was made (a later rename does not
    # change them); None for runs made before names were recorded.
    schedule_name: str | None = None
    job_name: str | None = None
    created_at: datetime
    updated_at: datetime

    # -- new runs, one factory per initial status ----------------------------------------

    @classmethod
    def dispatched(
        cls, fire: NewRun, *, now: datetime, buffered: bool = False
    ) -> tuple[Run, list[DomainEvent]]:
        """A fire to execute: ``scheduled`` until its dispatch time, then ``pending``
        (claimable). ``buffered``: admitted behind earlier active runs of its schedule
        (overlap ``buffer_one``/``buffer_all``)."""
        status = RunStatus.PENDING if fire.dispatch_at <= now else RunStatus.SCHEDULED
        return cls._new(fire, status, None, now=now, buffered=buffered), []

    @classmethod
    def waiting_on_upstream(
        cls, fire: NewRun, *, reason: str, now: datetime, buffered: bool = False
    ) -> tuple[Run, list[DomainEvent]]:
        """A fire to execute once its upstream schedules' runs of the same period have
        succeeded (``release``), or to bury when one of them did not (``fail_dependency``)."""
        return cls._new(fire, RunStatus.WAITING, reason, now=now, buffered=buffered), []

    @classmethod
    def skipped(cls, fire: NewRun, *, reason: str, now: datetime) -> tuple[Run, list[DomainEvent]]:
        """A fire recorded and not run (a calendar, a window, a DST gap, the overlap
        policy, a debounce): terminal, with its reason and a ``run.skipped`` event."""
        run = cls._new(fire, RunStatus.SKIPPED, reason, now=now)
        return run, [run._event(EventType.RUN_SKIPPED, now)]

    @classmethod
    def missed(
        cls, fire: NewRun, *, now: datetime, reason: str = "misfire", count: int | None = None
    ) -> tuple[Run, list[DomainEvent]]:
        """A late fire the misfire policy does not run: terminal, with a ``run.missed``
        event. ``count``: this record summarises that many late fires (its nominal time
        is the latest of them)."""
        if count is not None and count < 1:
            raise ValueError("a missed summary stands for at least one fire")
        run = cls._new(fire, RunStatus.MISSED, reason, now=now, missed_count=count)
        return run, [run._event(EventType.RUN_MISSED, now)]

    @classmethod
    def _new(
        cls,
        fire: NewRun,
        status: RunStatus,
        reason: str | None,
        *,
        now: datetime,
        buffered: bool = False,
        missed_count: int | None = None,
    ) -> Run:
        return cls(
            id=fire.run_id or run_id_for(fire.tenant_id, fire.schedule_id, fire.nominal_at),
            tenant_id=fire.tenant_id,
            schedule_id=fire.schedule_id,
            job_id=fire.job_id,
            nominal_at=fire.nominal_at,
            dispatch_at=fire.dispatch_at,
            status=status,
            reason=reason,
            max_attempts=fire.max_attempts,
            priority=fire.priority,
            capability=fire.capability,
            available_at=fire.dispatch_at,
            payload=dict(fire.payload),
            calendar=fire.calendar,
            missed_count=missed_count,
            buffered=buffered,
            origin=fire.origin,
            backfill_id=fire.backfill_id,
            traceparent=fire.traceparent,
            schedule_name=fire.schedule_name,
            job_name=fire.job_name,
            created_at=now,
            updated_at=now,
        )

    def deliver_instantly(
        self, *, worker_id: WorkerId, started_at: datetime
    ) -> tuple[Run, list[DomainEvent]]:
        """A run just dispatched and not yet written, delivered on the instant path
        (docs/semantics.md, *Instant delivery*): it is first written ``succeeded``, with
        attempt 1 (``worker_id``: the replica's pool that publishes it) and one
        ``run.succeeded`` event, in the transaction that commits only once its broker
        target acknowledged the message. The attempt starts and ends at ``started_at``
        (its dispatch instant): the acknowledgement precedes the commit. It never held a
        lease, so it never emits ``run.started``."""
        if self.status not in (RunStatus.SCHEDULED, RunStatus.PENDING) or self.attempt:
            raise InvalidTransition("run", str(self.id), self.status.value, "delivered")
        attempt = Attempt(
            number=1,
            worker_id=worker_id,
            started_at=started_at,
            ended_at=started_at,
            outcome=Outcome.SUCCEEDED,
        )
        run = replace(
            self,
            status=RunStatus.SUCCEEDED,
            attempt=1,
            attempts=(attempt,),
            updated_at=started_at,
        )
        return run, [run._event(EventType.RUN_SUCCEEDED, started_at)]

    def release(self, *, now: datetime) -> Run:
        """Its upstream runs succeeded: claimable at its dispatch time."""
        if self.status is not RunStatus.WAITING:
            raise InvalidTransition("run", str(self.id), self.status.value, "released")
        ready = RunStatus.PENDING if self.available_at <= now else RunStatus.SCHEDULED
        return replace(self, status=ready, reason=None, updated_at=now)

    def fail_dependency(self, *, reason: str, now: datetime) -> tuple[Run, list[DomainEvent]]:
        """An upstream run ended without success: ``dead`` (visible with the dead letters,
        retryable by hand), reason ``DEPENDENCY_FAILED: ...``."""
        if self.status is not RunStatus.WAITING:
            raise InvalidTransition("run", str(self.id), self.status.value, "failed")
        dead = replace(
            self, status=RunStatus.DEAD, reason=f"DEPENDENCY_FAILED: {reason}", updated_at=now
        )
        return dead, [dead._event(EventType.RUN_DEAD, now)]

    def rearm(
        self,
        *,
        backfill_id: BackfillId,
        available_at: datetime,
        priority: Priority,
        buffered: bool,
        now: datetime,
    ) -> Run:
        """A fire that never ran (``missed`` or ``skipped``, summary records included)
        run after all, by an explicit backfill: the one way out of those terminal states.
        No event of its own (docs/semantics.md, *Events*, has none); ``started`` follows."""
        if self.status not in (RunStatus.MISSED, RunStatus.SKIPPED):
            raise InvalidTransition("run", str(self.id), self.status.value, "backfilled")
        return replace(
            self,
            status=RunStatus.PENDING if available_at <= now else RunStatus.SCHEDULED,
            reason="backfill",
            missed_count=None,
            available_at=available_at,
            priority=priority,
            buffered=buffered,
            origin=RunOrigin.BACKFILL,
            backfill_id=backfill_id,
            updated_at=now,
        )

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def start(
        self,
        *,
        worker_id: WorkerId,
        token: int,
        lease_until: datetime,
        now: datetime,
        timeout: timedelta | None = None,
        secret: str | None = None,
    ) -> tuple[Run, list[DomainEvent]]:
        """Claimed by a worker: a new attempt under lease ``token`` (which only grows),
        proven by ``secret`` (random, known only to the claimer).

        ``timeout`` (the job's) fixes when the server fails the attempt with TIMEOUT,
        however often the lease is extended.
        """
        if self.status not in (RunStatus.PENDING, RunStatus.SCHEDULED):
            raise InvalidTransition(
                "run", str(self.id), self.status.value, "running"
            )  # waiting too
        if token <= self.lease_token:
            raise LeaseLost(str(self.id), "a newer lease exists")
        number = self.attempt + 1
        started = replace(
            self,
            status=RunStatus.RUNNING,
            attempt=number,
            worker_id=worker_id,
            lease_token=token,
            lease_secret=secret,
            lease_until=lease_until,
            timeout_at=None if timeout is None else now + timeout,
            attempts=(*self.attempts, Attempt(number=number, worker_id=worker_id, started_at=now)),
            updated_at=now,
        )
        return started, [started._event(EventType.RUN_STARTED, now)]

    def extend(self, *, token: int, lease_until: datetime) -> Run:
        """Heartbeat: push the lease out; a stale token or a finished run is LeaseLost."""
        self._check_lease(token)
        return replace(self, lease_until=max(lease_until, self.lease_until or lease_until))

    def expired(self, now: datetime) -> Outcome | None:
        """Why the server must take this run back now (lease lapsed, or timed out)."""
        if self.status is not RunStatus.RUNNING:
            return None
        if self.timeout_at is not None and self.timeout_at <= now:
            return Outcome.TIMEOUT
        if self.lease_until is not None and self.lease_until <= now:
            return Outcome.LEASE_EXPIRED
        return None

    def take_back(self, *, now: datetime, retry_in: timedelta) -> tuple[Run, list[DomainEvent]]:
        """The rescuer ends an expired attempt (TIMEOUT or lease lost) and retries or buries."""
        outcome = self.expired(now)
        if outcome is None:
            raise InvalidTransition("run", str(self.id), self.status.value, "taken back")
        if self.cancel_requested is not None:
            return self._cancelled(
                f"{self.cancel_requested} (its worker did not stop; lease expired)", now
            )
        error = "TIMEOUT" if outcome is Outcome.TIMEOUT else "lease expired"
        return self._failed(outcome, error, now, retry_in)

    def succeed(
        self, *, token: int, now: datetime, detail: Mapping[str, Any] | None = None
    ) -> tuple[Run, list[DomainEvent]]:
        """The attempt succeeded. Also when a cancel was asked for meanwhile: the work
        was done, and the record says so."""
        self._check_lease(token)
        done = self._end_attempt(Outcome.SUCCEEDED, None, now, RunStatus.SUCCEEDED, detail)
        # An earlier attempt's failure is history (kept on its attempt), not the reason
        # of a run that succeeded.
        if any(a.error is not None and a.error == self.reason for a in self.attempts[:-1]):
            done = replace(done, reason=None)
        return done, [done._event(EventType.RUN_SUCCEEDED, now)]

    def fail(
        self,
        *,
        token: int,
        error: str,
        now: datetime,
        retry_in: timedelta,
        outcome: Outcome = Outcome.FAILED,
        final: bool = False,
        detail: Mapping[str, Any] | None = None,
        uncounted: bool = False,
    ) -> tuple[Run, list[DomainEvent]]:
        """End the attempt as failed; retry after ``retry_in`` if attempts are left and
        the failure is not ``final`` (a target that is gone). A run whose cancel was
        asked for ends ``cancelled`` instead: its worker stopped as told. ``uncounted``:
        Kairos' own broker refused the message, the target never saw it, so the attempt
        is recorded but the run keeps its budget (``max_attempts`` grows by one)."""
        self._check_lease(token)
        if self.cancel_requested is not None:
            return self._cancelled(self.cancel_requested, now, detail)
        run = replace(self, max_attempts=self.max_attempts + 1) if uncounted else self
        return run._failed(outcome, error, now, retry_in, final=final, detail=detail)

    def _failed(
        self,
        outcome: Outcome,
        error: str,
        now: datetime,
        retry_in: timedelta,
        *,
        final: bool = False,
        detail: Mapping[str, Any] | None = None,
    ) -> tuple[Run, list[DomainEvent]]:
        if self.attempt < self.max_attempts and not final:
            failed = self._end_attempt(outcome, error, now, RunStatus.PENDING, detail)
            failed = replace(failed, available_at=now + retry_in, reason=error)
            return failed, [failed._event(EventType.RUN_FAILED, now)]
        dead = replace(self._end_attempt(outcome, error, now, RunStatus.DEAD, detail), reason=error)
        return dead, [dead._event(EventType.RUN_FAILED, now), dead._event(EventType.RUN_DEAD, now)]

    def retry(self, *, attempts: int, now: datetime) -> Run:
        """A dead run retried by hand: pending now, with ``attempts`` more attempts.

        No event of its own (docs/semantics.md, *Events*, has none); the next ``started``
        follows.
        """
        if self.status is not RunStatus.DEAD:
            raise InvalidTransition("run", str(self.id), self.status.value, "retried")
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        return replace(
            self,
            status=RunStatus.PENDING,
            max_attempts=self.attempt + attempts,
            available_at=now,
            reason="retried by hand",
            updated_at=now,
        )

    def cancel(self, *, reason: str, now: datetime) -> tuple[Run, list[DomainEvent]]:
        """Cancelled at once, also while running (overlap ``replace``: the new fire may
        not wait for the old worker)."""
        if self.terminal:
            raise InvalidTransition("run", str(self.id), self.status.value, "cancelled")
        if self.status is RunStatus.RUNNING:
            return self._cancelled(reason, now)
        cancelled = replace(self, status=RunStatus.CANCELLED, reason=reason, updated_at=now)
        return cancelled, [cancelled._event(EventType.RUN_CANCELLED, now)]

    def request_cancel(self, *, reason: str, now: datetime) -> tuple[Run, list[DomainEvent]]:
        """Cancel by request (``POST /runs/{id}/cancel``): a run not yet running ends
        ``cancelled`` now; a running one is marked, and ends when its worker reports the
        stop, or when its lease (no longer extended) runs out."""
        if self.status is not RunStatus.RUNNING:
            return self.cancel(reason=reason, now=now)
        if self.cancel_requested is not None:
            return self, []
        return replace(self, cancel_requested=reason, updated_at=now), []

    def _cancelled(
        self, reason: str, now: datetime, detail: Mapping[str, Any] | None = None
    ) -> tuple[Run, list[DomainEvent]]:
        cancelled = self._end_attempt(Outcome.CANCELLED, reason, now, RunStatus.CANCELLED, detail)
        cancelled = replace(cancelled, reason=reason)
        return cancelled, [cancelled._event(EventType.RUN_CANCELLED, now)]

    def held_by(self, *, worker_id: WorkerId | None, secret: str) -> int:
        """The fencing token of this run's lease when ``secret`` proves it and the
        caller is the worker that claimed it (``worker_id`` None: the secret alone, for
        calls that name no worker); else ``LeaseLost``. Constant-time on the secret."""
        if (
            self.status is not RunStatus.RUNNING
            or self.lease_secret is None
            or not hmac.compare_digest(self.lease_secret.encode(), secret.encode())
        ):
            raise LeaseLost(str(self.id), "no lease with that token")
        if worker_id is not None and worker_id != self.worker_id:
            raise LeaseLost(str(self.id), "the lease belongs to another worker")
        return self.lease_token

    def _check_lease(self, token: int) -> None:
        if self.status is not RunStatus.RUNNING or token != self.lease_token:
            raise LeaseLost(str(self.id), "the lease expired or was replaced")

    def _end_attempt(
        self,
        outcome: Outcome,
        error: str | None,
        now: datetime,
        status: RunStatus,
        detail: Mapping[str, Any] | None = None,
    ) -> Run:
        last = replace(self.attempts[-1], ended_at=now, outcome=outcome, error=error, detail=detail)
        return replace(
            self,
            status=status,
            attempts=(*self.attempts[:-1], last),
            lease_until=None,
            timeout_at=None,
            lease_secret=None,
            worker_id=None,
            cancel_requested=None,
            updated_at=now,
        )

    def _event(self, type: EventType, now: datetime) -> DomainEvent:
        return DomainEvent.of(
            type,
            tenant_id=self.tenant_id,
            aggregate_id=self.id,
            revision=self.attempt,
            occurred_at=now,
            data={
                "run_id": str(self.id),
                "schedule_id": str(self.schedule_id),
                "job_id": str(self.job_id),
                **({"schedule_name": self.schedule_name} if self.schedule_name else {}),
                **({"job_name": self.job_name} if self.job_name else {}),
                "nominal_at": self.nominal_at.isoformat(),
                "status": self.status.value,
                "attempt": self.attempt,
                "reason": self.reason,
                "origin": self.origin.value,
                **({"missed_count": self.missed_count} if self.missed_count else {}),
                **(
                    {"started_at": self.attempts[-1].started_at.isoformat()}
                    if type is EventType.RUN_SUCCEEDED and self.attempts
                    else {}
                ),
            },
            traceparent=self.traceparent,
        )


def why_waiting(
    run: Run,
    *,
    now: datetime,
    capable_worker_online: bool,
    tenant_running: int,
    max_running: int | None,
) -> str | None:
    """Why a run that has not started is not running yet (None: it is not waiting, or
    is simply next in line). Computed when read, from the facts of that moment: no
    worker online declares its capability, its tenant is at its cap of running runs, it
    waits for its upstream schedules' runs, for an earlier run of its own schedule
    (overlap buffer) or for its retry backoff."""
    if run.status is RunStatus.WAITING:
        return "waiting for upstream: its upstream schedules' runs of the same period"
    if run.status is not RunStatus.PENDING:
        return None
    if run.available_at > now:
        return f"retry backoff: claimable from {run.available_at.isoformat()}"
    if not capable_worker_online:
        return f"no capable worker online: none declares {run.capability!r}"
    if max_running is not None and tenant_running >= max_running:
        return f"tenant at its running cap: {tenant_running} of {max_running} runs are running"
    if run.buffered:
        return "buffered: an earlier run of its schedule has not ended"
    return None

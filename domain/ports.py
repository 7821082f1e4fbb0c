"""Ports: what the application needs from the outside world, as structural Protocols.

Adapters (``adapters/postgres``, ``adapters/nats``, ``adapters/memory``...) satisfy them
without inheriting. Each docstring says what the method raises.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal, Protocol, runtime_checkable

from domain.audit import AuditEntry
from domain.backfill import Backfill
from domain.calendar import Calendar, HolidaySource
from domain.events import DomainEvent
from domain.ids import BackfillId, CalendarId, JobId, RunId, ScheduleId, TenantId, WorkerId
from domain.job import Job
from domain.run import Run, RunStatus
from domain.schedule import Schedule, ScheduleState
from domain.tzdata import Replan
from domain.usage import TenantUsage
from domain.worker import Worker

# Keyset pagination: the sort key of the last item seen (a timestamp, then the id).
Keyset = tuple[datetime, uuid.UUID]


@dataclass(frozen=True, slots=True)
class RunFilter:
    schedule_id: ScheduleId | None = None
    job_id: JobId | None = None
    statuses: frozenset[RunStatus] = frozenset()
    nominal_from: datetime | None = None  # inclusive
    nominal_to: datetime | None = None  # exclusive


@dataclass(frozen=True, slots=True)
class RunStats:
    """Runs whose fire is in a span: counts by status, and (seconds) the durations of
    attempts that ended and the lateness of first attempts (start - nominal time)."""

    counts: Mapping[str, int]
    duration_p50: float | None
    duration_p95: float | None
    lateness_p50: float | None
    lateness_p95: float | None

    @property
    def success_rate(self) -> float | None:
        """Succeeded / (succeeded + dead): of the runs that finished for good, how many
        succeeded (retries on the way count for nothing)."""
        done = self.counts.get("succeeded", 0) + self.counts.get("dead", 0)
        return None if done == 0 else self.counts.get("succeeded", 0) / done


class Clock(Protocol):
    """The only source of "now" for the service, and of its waits: the loops sleep on
    it, so a test steps them with a fake clock instead of waiting for real time."""

    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return once ``seconds`` of this clock's time have passed (at once for 0 or
        less). Cancellable."""
        ...


# What changed, as a change feed reports it: schedules (a fire may be due sooner),
# the outbox (events to relay), or "all" after the feed (re)connected, since what
# changed while it was away was not reported.
Change = Literal["schedules", "outbox", "all"]


class ChangeFeed(Protocol):
    """Wake-ups for the scheduler's loops when committed data changes (PostgreSQL:
    LISTEN/NOTIFY). A feed only shortens waits: the loops poll while it is not
    listening, so nothing is lost with it, only later."""

    @property
    def listening(self) -> bool:
        """Whether changes are reported now (connected and listening)."""
        ...

    async def follow(self, on_change: Callable[[Change], None]) -> None:
        """Call ``on_change`` for each change and with ``"all"`` after every (re)connection,
        until cancelled. A lost connection is opened again with backoff; an outage never
        raises here (it is logged once, and ``listening`` is False meanwhile)."""
        ...


class HolidayProvider(Protocol):
    def holidays(self, source: HolidaySource, year: int) -> Mapping[date, str]:
        """Holidays of ``source`` in ``year`` (date -> name).

        Raises ``InvalidCalendar`` when the source is unknown or malformed (a country or
        subdivision the provider does not know, an unparsable iCalendar document).
        """
        ...


class ScheduleOrder(enum.StrEnum):
    NAME = "name"  # case-insensitive
    NEXT = "next"  # next fire; none last
    STATE = "state"  # then by name
    CREATED = "created"


@dataclass(frozen=True, slots=True)
class ScheduleSearch:
    """A page of the tenant's live schedules: ``text`` found in the name
    (case-insensitive) or equal to the id, in ``state``, sorted by ``order`` (then id),
    ``limit`` rows from ``offset``."""

    text: str = ""
    state: ScheduleState | None = None
    order: ScheduleOrder = ScheduleOrder.NAME
    descending: bool = False
    offset: int = 0
    limit: int = 50


class ScheduleRepository(Protocol):
    """Schedules of the transaction's tenant."""

    async def get(self, schedule_id: ScheduleId) -> Schedule:
        """Raises ``NotFound`` (also for another tenant's schedule)."""
        ...

    async def add(self, schedule: Schedule) -> None:
        """Raises ``Conflict`` when a live schedule of the tenant already has that name."""
        ...

    async def save(self, schedule: Schedule, *, expected_version: int) -> None:
        """Optimistic update; raises ``Conflict`` when the stored version differs and
        ``NotFound`` when there is no such schedule."""
        ...

    async def event_schedules(self) -> Sequence[Schedule]:
        """The tenant's enabled schedules with an EVENT trigger."""
        ...

    async def count_live(self) -> int:
        """The tenant's schedules that are not deleted (Kairos' own not counted)."""
        ...

    async def of_job(self, job_id: JobId) -> Sequence[Schedule]:
        """The job's enabled schedules, locked (pausing them with the job's target)."""
        ...

    async def by_name(self, name: str) -> Schedule:
        """The live (not deleted) schedule with that name; raises ``NotFound``."""
        ...

    async def advance_many(self, changes: Sequence[tuple[Schedule, int]]) -> None:
        """Persist the progress of many schedules at once: (schedule, expected version).
        Only lifecycle fields are written (state, next fire, fire count, version,
        updated_at); raises ``Conflict`` when any stored version differs."""
        ...

    async def list(self, *, after: Keyset | None, limit: int) -> Sequence[Schedule]:
        """Live schedules by (created_at, id), starting after ``after``."""
        ...

    async def search(self, query: ScheduleSearch) -> tuple[Sequence[Schedule], int]:
        """The page of live schedules ``query`` asks for, and how many match in all."""
        ...

    async def next_due(self) -> datetime | None:
        """The earliest next fire of any enabled schedule (None: nothing scheduled)."""
        ...

    async def due(self, until: datetime, limit: int) -> Sequence[Schedule]:
        """Lock enabled schedules whose next fire is at or before ``until``, oldest first,
        skipping ones another transaction holds."""
        ...


@dataclass(frozen=True, slots=True)
class LeaseState:
    """The stored leader lease: who holds it, at which epoch, and whether it is still
    live at the database's clock."""

    holder: str
    epoch: int
    live: bool


# The lease the scheduler's replicas campaign for (its holder materialises, rescues
# and relays): its name in ``leader_leases``.
LEADER = "scheduler"


class LeaderLease(Protocol):
    """The leader lease row: the truth about who leads. No method holds it for longer
    than the statement, except ``fence``, whose lock (until commit) only orders a
    takeover after the fenced commit. Times are the database's clock at the statement
    (``clock_timestamp()``), not the transaction's start."""

    async def read(self, name: str) -> LeaseState | None:
        """The lease as stored (None: nobody ever led)."""
        ...

    async def renew(self, name: str, holder: str, epoch: int, ttl: timedelta) -> bool:
        """Extend the lease to now + ``ttl`` while ``holder`` leads at ``epoch`` and it
        has not expired; False otherwise. Never waits for a fenced pass."""
        ...

    async def take(
        self, name: str, holder: str, ttl: timedelta, *, seen: int | None, vacated: bool = False
    ) -> int | None:
        """Take the lease over at epoch ``seen + 1`` (1 when ``seen`` is None: no row)
        if it is still at ``seen`` and has expired, or, with ``vacated``, at once (the
        caller knows the holder of ``seen`` is gone); returns the new epoch or None.
        Waits at most until a fenced pass of the old epoch commits."""
        ...

    async def release(self, name: str, holder: str, epoch: int) -> None:
        """Let the lease expire now if ``holder`` still leads at ``epoch`` (a clean stop:
        another replica may take over at once)."""
        ...

    async def check(self, name: str, holder: str, epoch: int) -> None:
        """Raise ``NotLeader`` unless ``holder`` leads at ``epoch`` now. Holds nothing:
        the cheap early exit of a leader-only pass."""
        ...

    async def fence(self, name: str, holder: str, epoch: int) -> None:
        """The last statement of a leader-only pass: raise ``NotLeader`` unless
        ``holder`` leads at ``epoch`` now. A takeover then waits until this transaction
        ends, so every commit of an epoch comes before the next epoch begins; renewals
        never wait for it."""
        ...

    async def current(self, name: str) -> tuple[str, int] | None:
        """The live leader's holder and epoch, or None when the lease has lapsed."""
        ...


class LeaderPresence(Protocol):
    """A replica's marks bound to its own database session: held until dropped or until
    the session ends (the process was killed, its connection lost). The holder of epoch
    N holds mark N, taken before its takeover commits, so a free mark of the current
    epoch means its holder is gone, long before its lease expires."""

    async def hold(self, name: str, epoch: int) -> bool:
        """Take mark ``epoch`` of ``name`` unless another session holds it; True when
        this presence holds it now (taking a mark already held is a no-op)."""
        ...

    async def vacant(self, name: str, epoch: int) -> bool:
        """Whether no live session holds mark ``epoch`` (a probe that keeps nothing)."""
        ...

    async def drop(self, name: str, epoch: int) -> None:
        """Let go of a mark this presence holds (no-op otherwise)."""
        ...

    def lease(self) -> AbstractAsyncContextManager[LeaderLease]:
        """A transaction on this presence's own session, for the lease row: renewals and
        takeovers never wait for a connection of the pool that passes and workers share."""
        ...


class JobRepository(Protocol):
    """Jobs of the transaction's tenant."""

    async def get(self, job_id: JobId) -> Job:
        """Raises ``NotFound``."""
        ...

    async def add(self, job: Job) -> None:
        """Raises ``Conflict`` on a duplicate name within the tenant."""
        ...

    async def save(self, job: Job, *, expected_version: int) -> None:
        """Raises ``Conflict`` when the stored version differs, ``NotFound`` if absent."""
        ...

    async def by_name(self, name: str) -> Job:
        """Raises ``NotFound``."""
        ...

    async def list(self, *, after: Keyset | None, limit: int) -> Sequence[Job]:
        """Jobs by (created_at, id), starting after ``after``."""
        ...


class EventOutbox(Protocol):
    async def append(self, events: Sequence[DomainEvent], *, traceparent: str | None) -> None:
        """Store events in the current unit of work (same transaction as the change),
        those without a trace context given ``traceparent`` (the caller's: the request,
        fire or delivery that made them; None: no trace).

        Appending an event whose id is already stored is a no-op (ids are derived from
        the decision, so a retried decision does not duplicate its events).
        """
        ...

    async def pending(self, limit: int) -> Sequence[OutboxRecord]:
        """Unpublished events in commit order, locked for this (system) transaction."""
        ...

    async def mark_published(self, seqs: Sequence[int]) -> None: ...

    async def count(self) -> int:
        """Events not yet relayed."""
        ...


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    seq: int
    event: DomainEvent


class EventPublisher(Protocol):
    async def publish_many(self, events: Sequence[DomainEvent]) -> int:
        """Publish in order with ``Nats-Msg-Id`` = event id; returns how many leading
        events the stream acknowledged (fewer than given means an outage)."""
        ...


class AuditLog(Protocol):
    async def add(self, entry: AuditEntry) -> None: ...

    async def list(self, *, after: Keyset | None, limit: int) -> Sequence[AuditEntry]:
        """Newest first, keyset-paginated by ``(at, id)``."""
        ...


class UsageReader(Protocol):
    async def usage(self, since: datetime) -> Sequence[TenantUsage]:
        """Each visible tenant's usage (one tenant in a tenant's transaction, every
        tenant in a system one), by tenant id; ``ended`` counts runs ended since
        ``since``. Kairos' own system tenant is left out."""
        ...


class ZoneRulesLedger(Protocol):
    """Which tzdata the deployment planned with, and the schedules a change re-planned."""

    async def recorded(self) -> str | None:
        """The tzdata version the deployment's stored next fires were planned with
        (None before any was recorded)."""
        ...

    async def record(self, version: str, *, replica: str, now: datetime) -> None:
        """Record ``version`` as the one planned with (system transactions only)."""
        ...

    async def planned(
        self, after: tuple[TenantId, ScheduleId] | None, limit: int
    ) -> Sequence[tuple[Schedule, datetime | None]]:
        """Enabled and paused schedules with a next fire, every tenant, ordered by
        (tenant, id) after ``after``; each with its last materialised nominal time."""
        ...

    async def add(self, replans: Sequence[Replan]) -> None:
        """List re-planned schedules (one entry per schedule and target version)."""
        ...

    async def replans(self, *, limit: int) -> Sequence[Replan]:
        """Visible re-planned schedules, newest first."""
        ...


class UnitOfWork(Protocol):
    """One transaction: state changes and outbox rows commit together or not at all.
    Leaving the block normally commits; an exception rolls back."""

    # Read-only members: adapters may expose their concrete repositories (a mutable
    # Protocol attribute would be invariant and reject them).
    @property
    def schedules(self) -> ScheduleRepository: ...

    @property
    def jobs(self) -> JobRepository: ...

    @property
    def runs(self) -> RunQueue: ...

    @property
    def outbox(self) -> EventOutbox: ...

    @property
    def leader(self) -> LeaderLease: ...

    @property
    def usage(self) -> UsageReader: ...

    @property
    def backfills(self) -> BackfillRepository: ...

    @property
    def calendars(self) -> CalendarRepository: ...

    @property
    def workers(self) -> WorkerRepository: ...

    @property
    def audit(self) -> AuditLog: ...

    @property
    def tzdata(self) -> ZoneRulesLedger: ...

    async def now(self) -> datetime:
        """The database's "now": what every due decision is measured against."""
        ...


class Database(Protocol):
    def transaction(self, tenant_id: TenantId) -> AbstractAsyncContextManager[UnitOfWork]:
        """Open a unit of work for ``tenant_id``; nothing of another tenant is visible."""
        ...

    def system(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """A unit of work across tenants, for the scheduler's own loops (materialiser,
        rescuer, relay, built-in workers). Objects carry their tenant."""
        ...

    def presence(self) -> AbstractAsyncContextManager[LeaderPresence]:
        """A session of this process's own that lives as long as the block (or the
        process): the leadership loop's liveness marks."""
        ...


class BackfillRepository(Protocol):
    async def add(self, backfill: Backfill) -> None: ...

    async def get(self, backfill_id: BackfillId) -> Backfill:
        """Raises ``NotFound``."""
        ...


class CalendarRepository(Protocol):
    """Calendars of the transaction's tenant."""

    async def get(self, calendar_id: CalendarId) -> Calendar:
        """Raises ``NotFound``."""
        ...

    async def list(self, *, after: Keyset | None, limit: int) -> Sequence[Calendar]:
        """By (created_at, id), starting after ``after``."""
        ...

    async def add(self, calendar: Calendar) -> None:
        """Raises ``Conflict`` if the name is taken in the tenant."""
        ...

    async def save(self, calendar: Calendar, *, expected_version: int) -> None:
        """Replace the stored version ``expected_version``; ``Conflict`` if it moved on
        or the name is taken, ``NotFound`` if it is gone."""
        ...

    async def users(self, calendar_id: CalendarId) -> int:
        """How many schedules (not deleted) use the calendar."""
        ...

    async def delete(self, calendar_id: CalendarId) -> None:
        """Raises ``Conflict`` while any schedule (deleted ones included: their history
        names it) references it, ``NotFound`` if there is none."""
        ...


@dataclass(frozen=True, slots=True)
class Claimable:
    """Runs locked for this transaction, each with a fresh fencing token, and the
    database's ``now`` at the time of locking (the instant all decisions use)."""

    now: datetime
    runs: Sequence[tuple[Run, int]]


class RunQueue(Protocol):
    async def add_many(self, runs: Sequence[Run]) -> int:
        """Insert runs, ignoring ones whose key (tenant, schedule, nominal) exists;
        returns how many were new."""
        ...

    async def get(self, run_id: RunId, *, lock: bool = False) -> Run:
        """The run with its attempts; ``lock`` holds it until the transaction ends.
        Raises ``NotFound``."""
        ...

    async def get_many(
        self, run_ids: Sequence[RunId], *, lock: bool = False, current_attempt: bool = False
    ) -> Sequence[Run]:
        """The runs that exist among ``run_ids`` (locked in id order with ``lock``),
        without their attempt history (only the current attempt with
        ``current_attempt``)."""
        ...

    async def list(self, where: RunFilter, *, after: Keyset | None, limit: int) -> Sequence[Run]:
        """Runs matching ``where``, newest fire first: by (nominal_at, id) descending,
        starting after ``after``. Without attempt history."""
        ...

    async def lock_claimable(
        self, capabilities: frozenset[str], limit: int, *, max_running: int | None = None
    ) -> Claimable:
        """Lock up to ``limit`` due runs (scheduled or pending, available now) whose
        capability is offered, highest priority then oldest dispatch first, skipping
        rows another transaction holds. Runs of a job at its ``max_concurrency``, or of a
        tenant with ``max_running`` runs running, are left out (so they cannot fill the
        batch). Runs come without their attempt history."""
        ...

    async def active(
        self, keys: Sequence[tuple[TenantId, ScheduleId]]
    ) -> Mapping[ScheduleId, Sequence[Run]]:
        """Each schedule's runs that have not ended (scheduled, pending, running), oldest
        fire first, without attempt history. Schedules with none are absent."""
        ...

    async def running_counts(
        self, keys: Sequence[tuple[TenantId, JobId]], *, lock: bool = False
    ) -> Mapping[JobId, int]:
        """How many runs of each job are running. ``lock`` first serialises, until the
        transaction ends, with every other caller locking any of these jobs."""
        ...

    async def running_by_tenant(
        self, tenants: Sequence[TenantId], *, lock: bool = False
    ) -> Mapping[TenantId, int]:
        """How many runs of each tenant are running. ``lock`` first serialises, until the
        transaction ends, with every other caller locking any of these tenants (taken
        before any job's lock)."""
        ...

    async def at_nominals(
        self, schedule_id: ScheduleId, nominals: Sequence[datetime]
    ) -> Sequence[Run]:
        """The schedule's runs whose nominal time is among ``nominals`` (no attempts)."""
        ...

    async def rearm_many(self, runs: Sequence[Run]) -> None:
        """Store missed/skipped records a backfill turned into runs (``Run.rearm``)."""
        ...

    async def backfill_progress(self, backfill_id: BackfillId) -> Mapping[str, int]:
        """How many of the backfill's runs are in each status."""
        ...

    async def stats(self, schedule_id: ScheduleId | None, since: datetime) -> RunStats:
        """Statistics of the runs (of one schedule, or all visible) with fires since
        ``since``."""
        ...

    async def purge(self, *, older_than: datetime | None, keep_last: int | None, limit: int) -> int:
        """Delete up to ``limit`` ended runs (with their attempts) whose fire is older than
        ``older_than`` and that are not among their schedule's ``keep_last`` newest ended
        runs (None: that condition does not apply). Returns how many went."""
        ...

    async def depth(self) -> Mapping[tuple[str, str], int]:
        """Runs not ended, counted by (status, priority name): the queue's depth."""
        ...

    async def held_by(self, worker_id: WorkerId) -> int:
        """How many runs the worker holds (running under its lease): its used capacity."""
        ...

    async def lock_waiting(self, limit: int) -> Sequence[Run]:
        """Lock up to ``limit`` waiting runs (oldest fire first), skipping locked ones."""
        ...

    async def lock_expired(self, limit: int) -> Claimable:
        """Lock running runs whose lease or timeout has passed (tokens unused)."""
        ...

    async def save_many(self, runs: Sequence[Run]) -> None:
        """Persist transitions and each run's latest attempt. Raises ``LeaseLost`` when
        a stored lease token is newer than the one being written (fencing)."""
        ...


class WorkerRepository(Protocol):
    """Workers of the transaction's tenant (built-in pools belong to ``SYSTEM_TENANT``)."""

    async def get(self, worker_id: WorkerId, *, lock: bool = False) -> Worker:
        """Raises ``NotFound``."""
        ...

    async def save(self, worker: Worker) -> None:
        """Insert or replace (registration and every state change)."""
        ...

    async def list(self, *, after: Keyset | None, limit: int) -> Sequence[Worker]:
        """Workers in registration order, keyset-paginated by ``(registered_at, id)``."""
        ...

    async def silent(self, now: datetime, limit: int) -> Sequence[Worker]:
        """Lock workers not yet offline that missed their heartbeats as of ``now``,
        skipping rows another transaction holds."""
        ...


class SecretBox(Protocol):
    """Seals signing secrets with the operator's key, so none is stored in the clear."""

    def seal(self, plain: str) -> str: ...

    def open(self, sealed: str) -> str: ...


class TargetExecutor(Protocol):
    async def execute(self, run: Run, job: Job) -> Mapping[str, Any] | None:
        """Deliver one attempt of ``run``; answers what the target said (kept on the
        attempt: HTTP status, latency, a truncated body), or None.

        Raises ``ExecutionFailed`` (retryable, may carry ``retry_after``, its
        ``details["response"]`` kept on the attempt) or ``TargetGone`` (HTTP 410: disable
        the target); ``TimeoutError`` on timeout.
        """
        ...


@runtime_checkable
class BatchTargetExecutor(TargetExecutor, Protocol):
    """A target that delivers many attempts at once (the EVENT target publishes a batch
    and waits for one flush instead of one per run)."""

    async def execute_many(self, items: Sequence[tuple[Run, Job]]) -> list[Exception | None]:
        """One outcome per item, in order: None delivered, else the exception that
        ``execute`` would have raised for it."""
        ...

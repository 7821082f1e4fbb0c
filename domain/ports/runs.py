"""The run queue: inserts, claims under lock, fenced updates, listings and statistics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from domain.ids import BackfillId, JobId, RunId, ScheduleId, TenantId, WorkerId
from domain.ports.repositories import Keyset
from domain.run import Run, RunStatus


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

    async def insert_new(self, runs: Sequence[Run]) -> set[RunId]:
        """``add_many``, answering the ids of the runs that were new."""
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

    async def latest(self, schedule_ids: Sequence[ScheduleId]) -> Mapping[ScheduleId, Run]:
        """Each schedule's last run: the one of its latest fire that has come (not
        ``scheduled`` or ``waiting``), without attempt history. Schedules with none are
        absent."""
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

    async def lock_waiting(self, limit: int, partitions: Sequence[int]) -> Sequence[Run]:
        """Lock up to ``limit`` waiting runs of ``partitions`` (oldest fire first),
        skipping locked ones."""
        ...

    async def lock_expired(self, limit: int, partitions: Sequence[int]) -> Claimable:
        """Lock running runs of ``partitions`` whose lease or timeout has passed
        (tokens unused)."""
        ...

    async def save_many(self, runs: Sequence[Run]) -> None:
        """Persist transitions and each run's latest attempt. Raises ``LeaseLost`` when
        a stored lease token is newer than the one being written (fencing)."""
        ...

"""The run queue in memory: claims, fenced updates, listings and statistics."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from adapters.memory.tables import _page, _Scoped, _Tables
from domain.errors import LeaseLost, NotFound
from domain.ids import BackfillId, JobId, RunId, ScheduleId, TenantId, WorkerId
from domain.job import TargetKind
from domain.overlap import ACTIVE
from domain.partitions import partition_of
from domain.ports import Claimable, Clock, Keyset, RunFilter, RunStats
from domain.run import TERMINAL, Run, RunOrigin, RunStatus

_CLAIMABLE = (RunStatus.PENDING, RunStatus.SCHEDULED)


# Runs whose lateness counts: a backfill's or a manual run's nominal time is past by design.
_ON_TIME = frozenset({RunOrigin.SCHEDULE, RunOrigin.EVENT})
# A schedule's last run is of a fire that has come: not one still scheduled or waiting.
_NOT_COME = frozenset({RunStatus.SCHEDULED, RunStatus.WAITING})


class MemoryRuns(_Scoped):
    def __init__(
        self, tables: _Tables, tenant_id: TenantId | None, clock: Clock, tokens: Iterator[int]
    ) -> None:
        super().__init__(tables, tenant_id)
        self._clock = clock
        self._tokens = tokens

    async def add_many(self, runs: Sequence[Run]) -> int:
        return len(await self.insert_new(runs))

    async def insert_new(self, runs: Sequence[Run]) -> set[RunId]:
        for run in runs:
            self._guard(run.tenant_id)
        new: set[RunId] = set()
        for run in runs:
            key = (run.tenant_id, run.schedule_id, run.nominal_at)
            if key in self._t.run_keys or run.id in self._t.runs:
                continue
            self._t.run_keys.add(key)
            self._t.runs[run.id] = run
            new.add(run.id)
        return new

    async def get(self, run_id: RunId, *, lock: bool = False) -> Run:
        run = self._t.runs.get(run_id)
        if run is None or not self._visible(run.tenant_id):
            raise NotFound("run", str(run_id))
        return run

    async def get_many(
        self, run_ids: Sequence[RunId], *, lock: bool = False, current_attempt: bool = False
    ) -> list[Run]:
        found = [self._t.runs.get(run_id) for run_id in sorted(set(run_ids), key=str)]
        return [
            replace(r, attempts=r.attempts[-1:] if current_attempt and r.attempt else ())
            for r in found
            if r and self._visible(r.tenant_id)
        ]

    async def list(self, where: RunFilter, *, after: Keyset | None, limit: int) -> list[Run]:
        def matches(r: Run) -> bool:
            return (
                self._visible(r.tenant_id)
                and where.schedule_id in (None, r.schedule_id)
                and where.job_id in (None, r.job_id)
                and (not where.statuses or r.status in where.statuses)
                and (where.nominal_from is None or r.nominal_at >= where.nominal_from)
                and (where.nominal_to is None or r.nominal_at < where.nominal_to)
            )

        found = [replace(r, attempts=()) for r in self._t.runs.values() if matches(r)]
        return _page(found, lambda r: (r.nominal_at, r.id), after, limit, descending=True)

    async def lock_claimable(
        self, capabilities: frozenset[str], limit: int, *, max_running: int | None = None
    ) -> Claimable:
        now = self._clock.now()
        running: Counter[tuple[TenantId, JobId]] = Counter(
            (r.tenant_id, r.job_id) for r in self._t.runs.values() if r.status is RunStatus.RUNNING
        )
        by_tenant: Counter[TenantId] = Counter(tenant for tenant, _ in running.elements())

        def claimable(r: Run) -> bool:
            if r.status not in _CLAIMABLE or r.capability not in capabilities:
                return False
            if r.available_at > now or not self._visible(r.tenant_id):
                return False
            capped = max_running is not None and r.capability != TargetKind.SYSTEM.value
            if capped and by_tenant[r.tenant_id] >= (max_running or 0):
                return False
            if r.buffered and any(
                e.tenant_id == r.tenant_id
                and e.schedule_id == r.schedule_id
                and e.nominal_at < r.nominal_at
                and e.status in ACTIVE
                for e in self._t.runs.values()
            ):
                return False
            job = self._t.jobs.get((r.tenant_id, r.job_id))
            limit_ = job.max_concurrency if job else None
            return limit_ is None or running[(r.tenant_id, r.job_id)] < limit_

        due = sorted(
            (r for r in self._t.runs.values() if claimable(r)),
            key=lambda r: (-int(r.priority), r.available_at),
        )[:limit]
        # As in Postgres, a claim sees no attempt history.
        return Claimable(now=now, runs=[(replace(r, attempts=()), next(self._tokens)) for r in due])

    async def active(
        self, keys: Sequence[tuple[TenantId, ScheduleId]]
    ) -> Mapping[ScheduleId, Sequence[Run]]:
        wanted = set(keys)
        found: dict[ScheduleId, list[Run]] = {}
        for run in sorted(self._t.runs.values(), key=lambda r: r.nominal_at):
            key = (run.tenant_id, run.schedule_id)
            if run.status in ACTIVE and key in wanted and self._visible(run.tenant_id):
                found.setdefault(run.schedule_id, []).append(replace(run, attempts=()))
        return found

    async def running_counts(
        self, keys: Sequence[tuple[TenantId, JobId]], *, lock: bool = False
    ) -> dict[JobId, int]:
        wanted = set(keys)
        counts: Counter[JobId] = Counter(
            r.job_id
            for r in self._t.runs.values()
            if r.status is RunStatus.RUNNING and (r.tenant_id, r.job_id) in wanted
        )
        return dict(counts)

    async def running_by_tenant(
        self, tenants: Sequence[TenantId], *, lock: bool = False
    ) -> dict[TenantId, int]:
        wanted = set(tenants)
        counts: Counter[TenantId] = Counter(
            r.tenant_id
            for r in self._t.runs.values()
            if r.status is RunStatus.RUNNING and r.tenant_id in wanted
        )
        return dict(counts)

    async def latest(self, schedule_ids: Sequence[ScheduleId]) -> Mapping[ScheduleId, Run]:
        wanted = set(schedule_ids)
        found: dict[ScheduleId, Run] = {}
        for r in self._t.runs.values():
            if (
                r.schedule_id in wanted
                and self._visible(r.tenant_id)
                and r.status not in _NOT_COME
                and (r.schedule_id not in found or r.nominal_at > found[r.schedule_id].nominal_at)
            ):
                found[r.schedule_id] = replace(r, attempts=())
        return found

    async def at_nominals(
        self, schedule_id: ScheduleId, nominals: Sequence[datetime]
    ) -> Sequence[Run]:
        wanted = set(nominals)
        return [
            replace(r, attempts=())
            for r in self._t.runs.values()
            if r.schedule_id == schedule_id
            and r.nominal_at in wanted
            and self._visible(r.tenant_id)
        ]

    async def rearm_many(self, runs: Sequence[Run]) -> None:
        for run in runs:
            self._guard(run.tenant_id)
            stored = self._t.runs.get(run.id)
            if stored is not None and stored.status in (RunStatus.MISSED, RunStatus.SKIPPED):
                self._t.runs[run.id] = replace(run, attempts=stored.attempts)

    async def stats(self, schedule_id: ScheduleId | None, since: datetime) -> RunStats:
        runs = [
            r
            for r in self._t.runs.values()
            if self._visible(r.tenant_id)
            and (schedule_id is None or r.schedule_id == schedule_id)
            and r.nominal_at >= since
        ]
        durations = [
            d.total_seconds() for r in runs for a in r.attempts if (d := a.duration) is not None
        ]
        lateness = [
            (a.started_at - r.nominal_at).total_seconds()
            for r in runs
            for a in r.attempts
            if a.number == 1 and r.origin in _ON_TIME
        ]
        return RunStats(
            counts=dict(Counter(r.status.value for r in runs)),
            duration_p50=_percentile(durations, 0.5),
            duration_p95=_percentile(durations, 0.95),
            lateness_p50=_percentile(lateness, 0.5),
            lateness_p95=_percentile(lateness, 0.95),
        )

    async def backfill_progress(self, backfill_id: BackfillId) -> Mapping[str, int]:
        return dict(
            Counter(
                r.status.value
                for r in self._t.runs.values()
                if r.backfill_id == backfill_id and self._visible(r.tenant_id)
            )
        )

    async def purge(self, *, older_than: datetime | None, keep_last: int | None, limit: int) -> int:
        ended: dict[tuple[TenantId, ScheduleId], list[Run]] = {}
        for run in self._t.runs.values():
            if run.status in TERMINAL and self._visible(run.tenant_id):
                ended.setdefault((run.tenant_id, run.schedule_id), []).append(run)
        doomed = []
        for runs in ended.values():
            runs.sort(key=lambda r: r.nominal_at, reverse=True)
            for newest, run in enumerate(runs, start=1):
                old = older_than is None or run.nominal_at < older_than
                beyond = keep_last is None or newest > keep_last
                if old and beyond:
                    doomed.append(run)
        for run in doomed[:limit]:
            del self._t.runs[run.id]
            self._t.run_keys.discard((run.tenant_id, run.schedule_id, run.nominal_at))
        return min(len(doomed), limit)

    async def depth(self) -> dict[tuple[str, str], int]:
        active = (RunStatus.WAITING, RunStatus.SCHEDULED, RunStatus.PENDING, RunStatus.RUNNING)
        found: dict[tuple[str, str], int] = {}
        for r in self._t.runs.values():
            if self._visible(r.tenant_id) and r.status in active:
                key = (r.status.value, r.priority.name.lower())
                found[key] = found.get(key, 0) + 1
        return found

    async def held_by(self, worker_id: WorkerId) -> int:
        return sum(
            1
            for r in self._t.runs.values()
            if r.worker_id == worker_id and r.status is RunStatus.RUNNING
        )

    async def lock_waiting(self, limit: int, partitions: Sequence[int]) -> Sequence[Run]:
        chosen = set(partitions)
        waiting = [
            replace(r, attempts=())
            for r in self._t.runs.values()
            if r.status is RunStatus.WAITING
            and self._visible(r.tenant_id)
            and partition_of(r.schedule_id, self._t.partitions) in chosen
        ]
        return sorted(waiting, key=lambda r: r.nominal_at)[:limit]

    async def lock_expired(self, limit: int, partitions: Sequence[int]) -> Claimable:
        now = self._clock.now()
        chosen = set(partitions)
        expired = [
            r
            for r in self._t.runs.values()
            if self._visible(r.tenant_id)
            and r.expired(now) is not None
            and partition_of(r.schedule_id, self._t.partitions) in chosen
        ]
        expired.sort(key=lambda r: r.lease_until or now)
        return Claimable(now=now, runs=[(r, r.lease_token) for r in expired[:limit]])

    async def save_many(self, runs: Sequence[Run]) -> None:
        for run in runs:
            self._guard(run.tenant_id)
            stored = self._t.runs.get(run.id)
            if stored is None or not self._visible(stored.tenant_id):
                raise NotFound("run", str(run.id))
            if stored.lease_token > run.lease_token:
                raise LeaseLost(str(run.id), "a newer lease was written meanwhile")
        for run in runs:
            stored = self._t.runs[run.id]
            history = {a.number: a for a in stored.attempts}
            history.update({a.number: a for a in run.attempts})
            self._t.runs[run.id] = replace(run, attempts=tuple(history[n] for n in sorted(history)))


def _percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks, as Postgres' percentile_cont."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)

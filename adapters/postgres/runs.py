"""The run queue on PostgreSQL: batch inserts, SKIP LOCKED claims, fenced batch updates."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime

import asyncpg

from adapters import jsonfast
from adapters.postgres.queries import sql
from adapters.tenancy import require_tenant
from domain.errors import LeaseLost, NotFound
from domain.ids import BackfillId, CalendarId, JobId, RunId, ScheduleId, TenantId, WorkerId
from domain.job import Priority
from domain.ports import Claimable, Keyset, RunFilter, RunStats
from domain.quarantine import Kind, Unreadable, reason_of
from domain.run import Attempt, Outcome, Run, RunOrigin, RunStatus

log = logging.getLogger("kairos.postgres")


def run_from_row(row: asyncpg.Record, attempts: tuple[Attempt, ...] = ()) -> Run:
    if not attempts and row.get("started_at") is not None:
        attempts = (_attempt_in_row(row),)
    calendar = (
        (CalendarId(row["calendar_id"]), row["calendar_version"]) if row["calendar_id"] else None
    )
    return Run(
        id=RunId(row["id"]),
        tenant_id=TenantId(row["tenant_id"]),
        schedule_id=ScheduleId(row["schedule_id"]),
        job_id=JobId(row["job_id"]),
        nominal_at=row["nominal_at"],
        dispatch_at=row["dispatch_at"],
        status=RunStatus(row["status"]),
        reason=row["reason"],
        attempt=row["attempt"],
        max_attempts=row["max_attempts"],
        priority=Priority(row["priority"]),
        capability=row["capability"],
        available_at=row["available_at"],
        lease_until=row["lease_until"],
        timeout_at=row["timeout_at"],
        lease_token=row["lease_token"],
        lease_secret=row["lease_secret"],
        worker_id=WorkerId(row["worker_id"]) if row["worker_id"] else None,
        payload=row["payload"],
        calendar=calendar,
        attempts=attempts,
        missed_count=row["missed_count"],
        buffered=row["buffered"],
        origin=RunOrigin(row["origin"]),
        backfill_id=BackfillId(row["backfill_id"]) if row["backfill_id"] else None,
        cancel_requested=row["cancel_requested"],
        traceparent=row["traceparent"],
        tzdata_version=row.get("tzdata_version"),
        schedule_name=row.get("schedule_name"),
        job_name=row.get("job_name"),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _attempt_in_row(row: asyncpg.Record) -> Attempt:
    """The one attempt of a run delivered on the instant path, kept in its row."""
    return Attempt(
        number=row["attempt"],
        worker_id=WorkerId(row["started_by"]),
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        outcome=Outcome.SUCCEEDED,
    )


def _attempt_from_row(row: asyncpg.Record) -> Attempt:
    return Attempt(
        number=row["number"],
        worker_id=WorkerId(row["worker_id"]),
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        outcome=Outcome(row["outcome"]) if row["outcome"] else None,
        error=row["error"],
        detail=row["detail"],
    )


class PgRuns:
    def __init__(self, conn: asyncpg.Connection, tenant_id: TenantId | None) -> None:
        self._conn = conn
        self._tenant = tenant_id
        self.unreadable: list[Unreadable] = []

    async def _readable(self, rows: Sequence[asyncpg.Record]) -> list[asyncpg.Record]:
        """The rows that decode as runs; one that does not is buried (``dead`` with the
        reason, and its event) and left out, so it stops no claim, rescue or listing.
        The common case costs one decode per row, done again by the caller."""
        good: list[asyncpg.Record] = []
        for row in rows:
            try:
                run_from_row(row)
            except Exception as exc:  # any decoding failure: the row, not the caller
                reason = reason_of("UNREADABLE: the stored run cannot be read", exc)
                log.error("run %s of tenant %s buried: %s", row["id"], row["tenant_id"], reason)
                moved = await self._conn.fetchrow(
                    sql("quarantine_run"), row["tenant_id"], row["id"], reason
                )
                if moved is not None:
                    self.unreadable.append(
                        Unreadable(
                            kind=Kind.RUN,
                            tenant_id=TenantId(row["tenant_id"]),
                            id=row["id"],
                            revision=int(moved["attempt"] or 0),
                            reason=reason,
                        )
                    )
                continue
            good.append(row)
        return good

    async def _runs(self, rows: Sequence[asyncpg.Record]) -> list[Run]:
        try:
            return [run_from_row(row) for row in rows]
        except Exception:  # one bad row: sort them out (rare, so the fast path stays)
            return [run_from_row(row) for row in await self._readable(rows)]

    def _check(self, runs: Sequence[Run]) -> None:
        if self._tenant is not None:
            for run in runs:
                require_tenant(run.tenant_id, self._tenant)

    async def add_many(self, runs: Sequence[Run]) -> int:
        return len(await self.insert_new(runs))

    async def insert_new(self, runs: Sequence[Run]) -> set[RunId]:
        if not runs:
            return set()
        self._check(runs)
        columns: list[list[object]] = [[] for _ in range(28)]
        for r in runs:
            # A run written with its attempt (the instant path's) keeps it in its row.
            first = r.attempts[0] if r.attempts else None
            values = (
                r.tenant_id,
                r.id,
                r.schedule_id,
                r.job_id,
                r.nominal_at,
                r.dispatch_at,
                r.status.value,
                r.reason,
                r.attempt,
                r.max_attempts,
                int(r.priority),
                r.available_at,
                r.capability,
                jsonfast.dumps_text(dict(r.payload)),
                r.calendar[0] if r.calendar else None,
                r.calendar[1] if r.calendar else None,
                r.created_at,
                r.updated_at,
                r.missed_count,
                r.buffered,
                r.origin.value,
                r.backfill_id,
                r.traceparent,
                r.schedule_name,
                r.job_name,
                first.started_at if first else None,
                first.ended_at if first else None,
                first.worker_id if first else None,
            )
            for column, value in zip(columns, values, strict=True):
                column.append(value)
        inserted = await self._conn.fetch(sql("insert_runs"), *columns)
        return {RunId(row["id"]) for row in inserted}

    async def get(self, run_id: RunId, *, lock: bool = False) -> Run:
        row = await self._conn.fetchrow(sql("get_run_for_update" if lock else "get_run"), run_id)
        if row is None:
            raise NotFound("run", str(run_id))
        attempts = await self._conn.fetch(sql("run_attempts"), run_id)
        return run_from_row(row, tuple(_attempt_from_row(a) for a in attempts))

    async def get_many(
        self, run_ids: Sequence[RunId], *, lock: bool = False, current_attempt: bool = False
    ) -> list[Run]:
        ids = list(set(run_ids))
        rows = await self._conn.fetch(sql("get_runs_for_update" if lock else "get_runs"), ids)
        if not current_attempt:
            return await self._runs(rows)
        rows = await self._readable(rows)
        attempts = {
            a["run_id"]: _attempt_from_row(a)
            for a in await self._conn.fetch(sql("current_attempts"), ids)
        }
        return [
            run_from_row(row, (attempts[row["id"]],) if row["id"] in attempts else ())
            for row in rows
        ]

    async def list(self, where: RunFilter, *, after: Keyset | None, limit: int) -> list[Run]:
        at, id = after or (None, None)
        rows = await self._conn.fetch(
            sql("list_runs"),
            where.schedule_id,
            where.job_id,
            sorted(s.value for s in where.statuses),
            where.nominal_from,
            where.nominal_to,
            at,
            id,
            limit,
        )
        return await self._runs(rows)

    async def lock_claimable(
        self, capabilities: frozenset[str], limit: int, *, max_running: int | None = None
    ) -> Claimable:
        now = await self._conn.fetchval(sql("db_now"))
        rows = await self._conn.fetch(
            sql("lock_claimable"), sorted(capabilities), limit, max_running
        )
        try:
            runs = [(run_from_row(r), r["fresh_token"]) for r in rows]
        except Exception:  # one bad row: bury it, claim the rest
            runs = [(run_from_row(r), r["fresh_token"]) for r in await self._readable(rows)]
        return Claimable(now=now, runs=runs)

    async def active(
        self, keys: Sequence[tuple[TenantId, ScheduleId]]
    ) -> Mapping[ScheduleId, Sequence[Run]]:
        if not keys:
            return {}
        rows = await self._conn.fetch(
            sql("active_runs"), [t for t, _ in keys], [s for _, s in keys]
        )
        found: dict[ScheduleId, list[Run]] = {}
        for run in await self._runs(rows):
            found.setdefault(run.schedule_id, []).append(run)
        return found

    async def running_counts(
        self, keys: Sequence[tuple[TenantId, JobId]], *, lock: bool = False
    ) -> dict[JobId, int]:
        if not keys:
            return {}
        tenants, jobs = [t for t, _ in keys], [j for _, j in keys]
        if lock:
            await self._conn.execute(sql("lock_jobs"), tenants, jobs)
        rows = await self._conn.fetch(sql("running_counts"), tenants, jobs)
        return {JobId(row["job_id"]): row["running"] for row in rows}

    async def running_by_tenant(
        self, tenants: Sequence[TenantId], *, lock: bool = False
    ) -> dict[TenantId, int]:
        if not tenants:
            return {}
        if lock:
            await self._conn.execute(sql("lock_tenants_running"), sorted(set(tenants)))
        rows = await self._conn.fetch(sql("running_by_tenant"), sorted(set(tenants)))
        return {TenantId(row["tenant_id"]): row["running"] for row in rows}

    async def latest(self, schedule_ids: Sequence[ScheduleId]) -> Mapping[ScheduleId, Run]:
        if not schedule_ids:
            return {}
        rows = await self._conn.fetch(sql("latest_runs"), list(set(schedule_ids)), self._tenant)
        return {ScheduleId(row["schedule_id"]): run_from_row(row) for row in rows}

    async def at_nominals(
        self, schedule_id: ScheduleId, nominals: Sequence[datetime]
    ) -> Sequence[Run]:
        rows = await self._conn.fetch(sql("runs_at_nominals"), schedule_id, list(nominals))
        return [run_from_row(row) for row in rows]

    async def rearm_many(self, runs: Sequence[Run]) -> None:
        if not runs:
            return
        self._check(runs)
        await self._conn.execute(
            sql("rearm_runs"),
            [r.tenant_id for r in runs],
            [r.id for r in runs],
            [r.status.value for r in runs],
            [r.reason for r in runs],
            [r.available_at for r in runs],
            [int(r.priority) for r in runs],
            [r.buffered for r in runs],
            [r.backfill_id for r in runs],
            [r.updated_at for r in runs],
        )

    async def backfill_progress(self, backfill_id: BackfillId) -> Mapping[str, int]:
        rows = await self._conn.fetch(sql("backfill_progress"), backfill_id)
        return {row["status"]: row["runs"] for row in rows}

    async def stats(self, schedule_id: ScheduleId | None, since: datetime) -> RunStats:
        counts = await self._conn.fetch(sql("run_counts"), schedule_id, since)
        timings = await self._conn.fetchrow(sql("run_timings"), schedule_id, since)
        assert timings is not None

        def seconds(key: str) -> float | None:
            value = timings[key]
            return None if value is None else float(value)

        return RunStats(
            counts={row["status"]: row["runs"] for row in counts},
            duration_p50=seconds("duration_p50"),
            duration_p95=seconds("duration_p95"),
            lateness_p50=seconds("lateness_p50"),
            lateness_p95=seconds("lateness_p95"),
        )

    async def purge(self, *, older_than: datetime | None, keep_last: int | None, limit: int) -> int:
        status = await self._conn.execute(sql("purge_runs"), older_than, keep_last, limit)
        return int(status.split()[-1])

    async def depth(self) -> dict[tuple[str, str], int]:
        rows = await self._conn.fetch(sql("queue_depth"))
        return {
            (row["status"], Priority(row["priority"]).name.lower()): row["runs"] for row in rows
        }

    async def held_by(self, worker_id: WorkerId) -> int:
        return int(await self._conn.fetchval(sql("held_by_worker"), worker_id))

    async def lock_waiting(self, limit: int, partitions: Sequence[int]) -> Sequence[Run]:
        rows = await self._conn.fetch(sql("lock_waiting"), limit, list(partitions))
        return [run_from_row(row) for row in rows]

    async def lock_expired(self, limit: int, partitions: Sequence[int]) -> Claimable:
        now = await self._conn.fetchval(sql("db_now"))
        found = await self._conn.fetch(sql("lock_expired"), limit, list(partitions))
        rows = await self._readable(found)
        runs = []
        for row in rows:
            attempts = await self._conn.fetch(sql("run_attempts"), row["id"])
            run = run_from_row(row, tuple(_attempt_from_row(a) for a in attempts))
            runs.append((run, run.lease_token))
        return Claimable(now=now, runs=runs)

    async def save_many(self, runs: Sequence[Run]) -> None:
        if not runs:
            return
        self._check(runs)
        updated = await self._conn.fetch(
            sql("update_runs"),
            [r.tenant_id for r in runs],
            [r.id for r in runs],
            [r.status.value for r in runs],
            [r.reason for r in runs],
            [r.attempt for r in runs],
            [r.available_at for r in runs],
            [r.lease_until for r in runs],
            [r.timeout_at for r in runs],
            [r.lease_token for r in runs],
            [r.worker_id for r in runs],
            [r.updated_at for r in runs],
            [r.max_attempts for r in runs],
            [r.cancel_requested for r in runs],
            [r.lease_secret for r in runs],
        )
        if len(updated) != len(runs):
            done = {row["id"] for row in updated}
            missed = [r for r in runs if r.id not in done]
            stored = {
                row["id"]: row["lease_token"]
                for row in await self._conn.fetch(sql("run_tokens"), [r.id for r in missed])
            }
            first = missed[0]
            if first.id not in stored:
                raise NotFound("run", str(first.id))
            raise LeaseLost(str(first.id), "a newer lease was written meanwhile")
        latest = [(r, r.attempts[-1]) for r in runs if r.attempts]
        if latest:
            await self._conn.execute(
                sql("upsert_attempts"),
                [r.tenant_id for r, _ in latest],
                [r.id for r, _ in latest],
                [a.number for _, a in latest],
                [a.worker_id for _, a in latest],
                [a.started_at for _, a in latest],
                [a.ended_at for _, a in latest],
                [a.outcome.value if a.outcome else None for _, a in latest],
                [a.error for _, a in latest],
                [
                    None if a.detail is None else jsonfast.dumps_text(dict(a.detail))
                    for _, a in latest
                ],
            )

"""Run use cases: claim under lease, heartbeat, complete, fail with backoff, rescue.

Every one is: open a unit of work -> load (locked) -> the domain decides -> save state and
outbox events in the same transaction.

An outcome has one name at each stage: an external worker sends a ``ReportRun`` (run id
and lease token, ``commands.py``); once its run is read under lock it is a ``Report``
(the attempt's outcome with the run in hand), which is also what the scheduler's own
worker pool records. The module is about 540 lines because claiming, recording and
rescuing share the lease rules and the decision helpers (``_decide``, ``_jobs``); the
reads and operator actions at its end (``get_run`` to ``cancel_run``) are the same
aggregate's, and are the first to move to a module of their own if it grows.
"""

from __future__ import annotations

import logging
import random
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from domain.errors import Conflict, DomainError, LeaseLost, NotFound
from domain.events import DomainEvent
from domain.ids import JobId, RunId, ScheduleId, TenantId, WorkerId
from domain.job import Job, TargetKind
from domain.limits import TenantLimits
from domain.ports import Database, Keyset, RunFilter, RunStats, UnitOfWork
from domain.run import Run, RunStatus, why_waiting
from domain.worker import WorkerState
from service import telemetry
from service.loops.leadership import Fence, fenced
from service.telemetry import NO_METRICS, Metrics
from service.usecases.commands import ReportRun

DEFAULT_LEASE = timedelta(seconds=30)
log = logging.getLogger("kairos.runs")
# What reading one stored row can raise when the row itself is bad (not the database):
# caught per row, so one bad row stops nothing else.
UNREADABLE = (DomainError, ValueError, TypeError, LookupError, ArithmeticError)


@dataclass(frozen=True, slots=True)
class Claimed:
    runs: list[Run]
    jobs: dict[JobId, Job]  # the jobs of those runs (a deleted job is absent)


async def claim(
    db: Database,
    *,
    worker_id: WorkerId,
    capabilities: frozenset[str],
    limit: int,
    lease: timedelta = DEFAULT_LEASE,
    tenant_id: TenantId | None = None,
    max_running: int | None = None,
) -> list[Run]:
    """Lease up to ``limit`` due runs to a worker (one tenant's, or any with None).

    The lease and the timeout clock start at the database's ``now``.
    """
    claimed = await claim_batch(
        db,
        worker_id=worker_id,
        capabilities=capabilities,
        limit=limit,
        lease=lease,
        tenant_id=tenant_id,
        max_running=max_running,
    )
    return claimed.runs


async def claim_batch(
    db: Database,
    *,
    worker_id: WorkerId,
    capabilities: frozenset[str],
    limit: int,
    lease: timedelta = DEFAULT_LEASE,
    tenant_id: TenantId | None = None,
    max_running: int | None = None,
    metrics: Metrics = NO_METRICS,
) -> Claimed:
    """``claim``, also answering the runs' jobs (workers need them to deliver).
    ``max_running``: the operator's cap on each tenant's running runs (None: none);
    ``metrics`` is told how long the claim took and how late each run started."""
    scope = db.system() if tenant_id is None else db.transaction(tenant_id)
    started = time.perf_counter()
    async with scope as tx:
        claimed = await _claim_in(
            tx, worker_id, capabilities, limit, lease, max_running=max_running, metrics=metrics
        )
    metrics.claim_took(time.perf_counter() - started, len(claimed.runs))
    return claimed


async def claim_for_worker(
    db: Database,
    *,
    tenant_id: TenantId,
    worker_id: WorkerId,
    limit: int,
    lease: timedelta = DEFAULT_LEASE,
    max_running: int | None = None,
    metrics: Metrics = NO_METRICS,
) -> Claimed | None:
    """An external worker's claim (``POST /workers/{id}/claim``): up to ``limit`` runs
    of its tenant matching its registered capabilities, never more than its free
    capacity (its registered capacity less the runs it holds). None: the worker is
    draining and gets nothing more. An offline worker must heartbeat first
    (``Conflict``): the rescuer may have taken its runs back."""
    async with db.transaction(tenant_id) as tx:
        worker = await tx.workers.get(worker_id, lock=True)
        if worker.state is WorkerState.DRAINING:
            return None
        if not worker.takes_work:
            raise Conflict(
                f"worker {worker_id} is offline; heartbeat to come back before claiming",
                state=worker.state.value,
            )
        free = min(limit, worker.capacity - await tx.runs.held_by(worker_id))
        if free <= 0:
            return Claimed([], {})
        return await _claim_in(
            tx,
            worker_id,
            worker.capabilities,
            free,
            lease,
            max_running=max_running,
            metrics=metrics,
        )


async def _claim_in(
    tx: UnitOfWork,
    worker_id: WorkerId,
    capabilities: frozenset[str],
    limit: int,
    lease: timedelta,
    *,
    max_running: int | None,
    metrics: Metrics,
) -> Claimed:
    batch = await tx.runs.lock_claimable(capabilities, limit, max_running=max_running)
    if not batch.runs:
        return Claimed([], {})
    jobs = await _jobs(tx, [run for run, _ in batch.runs])
    timeouts = {job_id: job.timeout for job_id, job in jobs.items()}
    started: list[Run] = []
    events: list[DomainEvent] = []
    for run, token in await _within_limits(tx, batch.runs, jobs, max_running):
        run_started, run_events = run.start(
            worker_id=worker_id,
            token=token,
            lease_until=batch.now + lease,
            now=batch.now,
            timeout=timeouts.get(run.job_id),
            secret=secrets.token_hex(16),  # 128 random bits: the claimer's proof
        )
        started.append(run_started)
        events.extend(run_events)
    await tx.runs.save_many(started)
    await tx.outbox.append(events, traceparent=telemetry.current_traceparent())
    metrics.runs_started([(batch.now - run.nominal_at).total_seconds() for run in started])
    return Claimed(started, jobs)


async def _within_limits(
    tx: UnitOfWork,
    candidates: Sequence[tuple[Run, int]],
    jobs: Mapping[JobId, Job],
    max_running: int | None,
) -> list[tuple[Run, int]]:
    """The candidates that keep each job within its ``max_concurrency`` and each tenant
    within ``max_running`` running runs, in claim order.

    The claim query already leaves out jobs and tenants at their limit; this is the
    exact count, taken under per-tenant then per-job locks (one order, so concurrent
    claimers neither deadlock nor both take the last slot). A run counts against both
    limits only when admitted by both. Kairos' own SYSTEM tasks are not tenant-capped.
    Candidates left out stay pending (their row locks end with the transaction).
    """
    tenant_running: dict[TenantId, int] = {}
    if max_running is not None and candidates:
        tenants = sorted({run.tenant_id for run, _ in candidates})
        tenant_running = dict(await tx.runs.running_by_tenant(tenants, lock=True))
    limited = sorted(
        {
            (run.tenant_id, run.job_id)
            for run, _ in candidates
            if run.job_id in jobs and jobs[run.job_id].max_concurrency is not None
        }
    )
    job_running = dict(await tx.runs.running_counts(limited, lock=True)) if limited else {}
    admitted = []
    for run, token in candidates:
        job = jobs.get(run.job_id)
        job_cap = job.max_concurrency if job is not None else None
        tenant_cap = None if run.capability == TargetKind.SYSTEM.value else max_running
        if job_cap is not None and job_running.get(run.job_id, 0) >= job_cap:
            continue
        if tenant_cap is not None and tenant_running.get(run.tenant_id, 0) >= tenant_cap:
            continue
        job_running[run.job_id] = job_running.get(run.job_id, 0) + 1
        tenant_running[run.tenant_id] = tenant_running.get(run.tenant_id, 0) + 1
        admitted.append((run, token))
    return admitted


async def _jobs(tx: UnitOfWork, runs: Sequence[Run]) -> dict[JobId, Job]:
    jobs: dict[JobId, Job] = {}
    for job_id in {run.job_id for run in runs}:
        try:
            jobs[job_id] = await tx.jobs.get(job_id)
        except NotFound:
            continue  # a run outlives its job's deletion; it simply has no timeout
        except UNREADABLE as exc:
            # A job stored in a form that no longer decodes: its runs go on as if it
            # were gone (they fail, saying so) and every other job's runs are claimed.
            log.error("job %s cannot be read, its runs fail: %s", job_id, exc)
    return jobs


@dataclass(frozen=True, slots=True)
class Report:
    """The outcome of one attempt, with the run as claimed in hand (``error`` None is
    success): what the scheduler's worker pool records, and what an external worker's
    ``ReportRun`` becomes once its run is read."""

    run: Run  # as claimed (carries the lease token and the current attempt)
    error: str | None = None
    retry_after: timedelta | None = None
    detail: Mapping[str, Any] | None = None  # what the target answered, kept on the attempt
    gone: bool = False  # the target answered 410 Gone: no retry, the target is disabled
    final: bool = False  # another attempt cannot succeed (the SSRF guard refused): no retry
    # Kairos' own broker refused the message: the attempt does not count (see Run.fail).
    uncounted: bool = False


TARGET_GONE = "TARGET_GONE"


def _decide(
    current: Run,
    report: Report,
    job: Job | None,
    now: datetime,
    unit: Callable[[], float],
) -> tuple[Run, list[DomainEvent]]:
    """The domain's verdict on one reported outcome; ``LeaseLost`` for a stale token."""
    token = report.run.lease_token
    if report.error is None:
        return current.succeed(token=token, now=now, detail=report.detail)
    delay = _retry_delay(job, current, unit())
    if report.retry_after is not None:
        delay = max(delay, report.retry_after)
    return current.fail(
        token=token,
        error=report.error,
        now=now,
        retry_in=delay,
        final=report.gone or report.final,
        detail=report.detail,
        uncounted=report.uncounted,
    )


async def record(
    db: Database,
    reports: Sequence[Report],
    *,
    jobs: Mapping[JobId, Job],
    tenant_id: TenantId | None = None,
    unit: Callable[[], float] = random.random,
) -> list[Run]:
    """Record many outcomes in one transaction (group commit for busy workers).

    Each run is re-read under lock and decided by the domain on its stored state, so a
    run cancelled, taken back or re-leased meanwhile is skipped (its lease is lost)
    rather than overwritten. Returns the runs recorded.
    """
    if not reports:
        return []
    scope = db.system() if tenant_id is None else db.transaction(tenant_id)
    async with scope as tx:
        now = await tx.now()
        stored = {r.id: r for r in await tx.runs.get_many([r.run.id for r in reports], lock=True)}
        done: list[Run] = []
        events: list[DomainEvent] = []
        gone: dict[tuple[TenantId, JobId], str] = {}
        for report in reports:
            current = stored.get(report.run.id)
            if current is None:
                continue
            if current.attempt == report.run.attempt:
                current = replace(current, attempts=report.run.attempts[-1:])
            try:
                new, more = _decide(current, report, jobs.get(current.job_id), now, unit)
            except LeaseLost:
                continue
            done.append(new)
            events.extend(more)
            if report.gone and report.error is not None:
                gone[(current.tenant_id, current.job_id)] = report.error
        await tx.runs.save_many(done)
        events += await _disable_targets(tx, gone, now)
        await tx.outbox.append(events, traceparent=telemetry.current_traceparent())
        return done


async def _disable_targets(
    tx: UnitOfWork, gone: Mapping[tuple[TenantId, JobId], str], now: datetime
) -> list[DomainEvent]:
    """A target that answered 410 Gone: its job is disabled (runs fail at once until the
    target is changed) and its enabled schedules are paused, each with a
    ``scheduler.schedule.disabled`` event whose ``reason`` is ``TARGET_GONE``."""
    events: list[DomainEvent] = []
    for (_, job_id), error in sorted(gone.items(), key=lambda item: str(item[0][1])):
        try:
            job = await tx.jobs.get(job_id)
        except NotFound:
            continue
        if job.disabled is None:
            await tx.jobs.save(job.disable(reason=error, now=now), expected_version=job.version)
        for schedule in await tx.schedules.of_job(job_id):
            paused, more = schedule.pause(now=now, reason=TARGET_GONE)
            await tx.schedules.save(paused, expected_version=schedule.version)
            events += more
    return events


def _retry_delay(job: Job | None, run: Run, unit: float) -> timedelta:
    return job.backoff.delay(max(run.attempt, 1), unit) if job is not None else timedelta(0)


async def report(
    db: Database,
    *,
    tenant_id: TenantId,
    command: ReportRun,
    unit: Callable[[], float] = random.random,
    worker_id: WorkerId | None = None,
) -> Run:
    """One worker's outcome for one run (``POST /runs/{id}/complete|fail``): success
    with ``error`` None, else a failure retried after the backoff (or ``retry_after`` if
    longer), or dead after the last attempt. ``report_many`` of one: a wrong or stale
    token, or another worker's lease, raises ``LeaseLost``; an unknown run ``NotFound``."""
    done, _ = await report_many(
        db, tenant_id=tenant_id, outcomes=[command], unit=unit, worker_id=worker_id
    )
    if done:
        return done[0]
    await get_run(db, tenant_id=tenant_id, run_id=command.run_id)  # NotFound first
    raise LeaseLost(str(command.run_id), "no lease with that token")


async def report_many(
    db: Database,
    *,
    tenant_id: TenantId,
    outcomes: Sequence[ReportRun],
    unit: Callable[[], float] = random.random,
    worker_id: WorkerId | None = None,
) -> tuple[list[Run], list[RunId]]:
    """Many outcomes of one tenant in one transaction (a busy external worker's group
    commit): the same decisions as ``report``. Each must present its lease's token and,
    with ``worker_id``, come from the worker holding the lease. Answers the runs
    recorded and the ids refused as ``LEASE_LOST`` (or unknown): a worker drops those."""
    if not outcomes:
        return [], []
    async with db.transaction(tenant_id) as tx:
        now = await tx.now()
        ids = [o.run_id for o in outcomes]
        stored = {r.id: r for r in await tx.runs.get_many(ids, lock=True, current_attempt=True)}
        jobs = await _jobs(tx, list(stored.values()))
        done: list[Run] = []
        events: list[DomainEvent] = []
        refused: list[RunId] = []
        for o in outcomes:
            current = stored.get(o.run_id)
            if current is None:
                refused.append(o.run_id)
                continue
            try:
                current.held_by(worker_id=worker_id, secret=o.token)
                claimed = Report(current, o.error, o.retry_after, o.detail)
                new, more = _decide(current, claimed, jobs.get(current.job_id), now, unit)
            except LeaseLost:
                refused.append(o.run_id)
                continue
            stored[o.run_id] = new  # a second outcome for the same run is refused
            done.append(new)
            events.extend(more)
        await tx.runs.save_many(done)
        await tx.outbox.append(events, traceparent=telemetry.current_traceparent())
        return done, refused


async def complete(db: Database, *, tenant_id: TenantId, run_id: RunId, token: str) -> Run:
    """The worker reports success; a wrong or stale token raises ``LeaseLost``."""
    return await report(db, tenant_id=tenant_id, command=ReportRun(run_id=run_id, token=token))


async def fail(
    db: Database,
    *,
    tenant_id: TenantId,
    run_id: RunId,
    token: str,
    error: str,
    retry_after: timedelta | None = None,
    unit: Callable[[], float] = random.random,
) -> Run:
    """The worker reports failure (see ``report``)."""
    command = ReportRun(run_id=run_id, token=token, error=error, retry_after=retry_after)
    return await report(db, tenant_id=tenant_id, command=command, unit=unit)


async def rescue(
    db: Database, *, fence: Fence, limit: int, unit: Callable[[], float] = random.random
) -> list[Run]:
    """Take back runs whose lease lapsed or whose timeout passed (the leader's rescuer);
    ``NotLeader``, and nothing taken back, when ``fence`` no longer leads."""
    async with fenced(db, fence) as tx:
        batch = await tx.runs.lock_expired(limit, fence.partitions)
        taken: list[Run] = []
        events: list[DomainEvent] = []
        for run, _ in batch.runs:
            try:
                backoff = (await tx.jobs.get(run.job_id)).backoff
                delay = backoff.delay(max(run.attempt, 1), unit())
            except NotFound:
                delay = timedelta(0)
            back, run_events = run.take_back(now=batch.now, retry_in=delay)
            taken.append(back)
            events.extend(run_events)
        await tx.runs.save_many(taken)
        await tx.outbox.append(events, traceparent=telemetry.current_traceparent())
        return taken


async def get_run(db: Database, *, tenant_id: TenantId, run_id: RunId) -> Run:
    async with db.transaction(tenant_id) as tx:
        return await tx.runs.get(run_id)


# Capabilities Kairos' own worker pool delivers (every other one needs an external
# worker online that declares it).
_BUILT_IN = frozenset(k.value for k in TargetKind if k is not TargetKind.WORKER)


async def waiting_reasons(
    db: Database, *, tenant_id: TenantId, runs: Sequence[Run], limits: TenantLimits
) -> dict[RunId, str]:
    """Why each of ``runs`` that has not started waits (``why_waiting``), from the
    workers online and the tenant's running runs now; runs that do not wait are absent."""
    waiting = [r for r in runs if r.status in (RunStatus.PENDING, RunStatus.WAITING)]
    if not waiting:
        return {}
    async with db.transaction(tenant_id) as tx:
        now = await tx.now()
        offered: set[str] = set()
        if any(r.capability not in _BUILT_IN for r in waiting):
            for worker in await tx.workers.list(after=None, limit=500):
                if worker.state is WorkerState.ONLINE:
                    offered |= worker.capabilities
        running = 0
        if limits.max_running is not None:
            running = (await tx.runs.running_by_tenant([tenant_id])).get(tenant_id, 0)
    found: dict[RunId, str] = {}
    for run in waiting:
        why = why_waiting(
            run,
            now=now,
            capable_worker_online=run.capability in _BUILT_IN or run.capability in offered,
            tenant_running=running,
            max_running=limits.max_running,
        )
        if why is not None:
            found[run.id] = why
    return found


async def list_runs(
    db: Database, *, tenant_id: TenantId, where: RunFilter, after: Keyset | None, limit: int
) -> Sequence[Run]:
    async with db.transaction(tenant_id) as tx:
        return await tx.runs.list(where, after=after, limit=limit)


STATS_WINDOW = timedelta(hours=24)


async def run_stats(
    db: Database,
    *,
    tenant_id: TenantId,
    schedule_id: ScheduleId | None,
    since: datetime | None = None,
) -> tuple[RunStats, datetime]:
    """The tenant's (or one schedule's) run statistics for fires since ``since`` (default:
    the last 24 hours), and that instant."""
    async with db.transaction(tenant_id) as tx:
        if schedule_id is not None:
            await tx.schedules.get(schedule_id)  # NotFound for another tenant's
        start = since if since is not None else await tx.now() - STATS_WINDOW
        return await tx.runs.stats(schedule_id, start), start


async def retry_run(db: Database, *, tenant_id: TenantId, run_id: RunId) -> Run:
    """A dead run gets a fresh budget of its job's ``max_attempts`` and is pending now."""
    async with db.transaction(tenant_id) as tx:
        run = await tx.runs.get(run_id, lock=True)
        try:
            attempts = (await tx.jobs.get(run.job_id)).max_attempts
        except NotFound:
            attempts = 1
        retried = run.retry(attempts=attempts, now=await tx.now())
        await tx.runs.save_many([retried])
        return retried


async def cancel_run(
    db: Database, *, tenant_id: TenantId, run_id: RunId, reason: str = "cancelled by request"
) -> Run:
    """Cancel a run that has not ended. One not yet running ends ``cancelled`` now. A
    running one is marked: its worker is told in its next heartbeat answer and its lease
    is no longer extended; it ends ``cancelled`` when the worker reports the stop, or
    when the lease runs out (the rescuer). Asking again changes nothing."""
    async with db.transaction(tenant_id) as tx:
        run = await tx.runs.get(run_id, lock=True)
        cancelled, events = run.request_cancel(reason=reason, now=await tx.now())
        await tx.runs.save_many([cancelled])
        await tx.outbox.append(events, traceparent=telemetry.current_traceparent())
        return cancelled

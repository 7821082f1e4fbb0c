"""One delivery: the attempt on a run's target (or a batch of runs on a batch-capable
target), in a span that continues the run's trace, turned into outcome reports for the
worker pool to record (nothing is written here)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from domain.errors import (
    BrokerUnavailable,
    DomainError,
    ExecutionFailed,
    TargetGone,
    TargetRefused,
)
from domain.ids import JobId, RunId
from domain.job import Job, TargetKind
from domain.ports import BatchTargetExecutor, TargetExecutor
from domain.run import Run
from service import telemetry
from service.loops import resilience
from service.usecases import runs as use

log = logging.getLogger("kairos.worker")


async def deliver(
    executors: Mapping[TargetKind, TargetExecutor],
    jobs: Mapping[JobId, Job],
    runs: list[Run],
) -> list[use.Report]:
    """Attempts on the target (one run, or a batch for a batch-capable target); the
    outcomes as reports (nothing written here). The batch's deadline is the shortest
    job timeout among its runs."""
    reports: dict[RunId, use.Report] = {}
    items: list[tuple[Run, Job]] = []
    for run in runs:
        job = jobs.get(run.job_id)
        if job is None:
            reports[run.id] = use.Report(run, error="the run's job no longer exists")
        elif job.disabled is not None:
            error = f"target disabled: {job.disabled}; change the job's target"
            reports[run.id] = use.Report(run, error=error, gone=True)
        else:
            items.append((run, job))
    if items:
        executor = executors[TargetKind(items[0][0].capability)]
        deadline = min(job.timeout for _, job in items).total_seconds()
        outcomes: list[Exception | Mapping[str, Any] | None]
        first = items[0][0]
        attributes = {
            "kairos.target": first.capability,
            "kairos.runs": len(items),
            **(
                {
                    "kairos.run_id": str(first.id),
                    "kairos.tenant_id": first.tenant_id,
                    "kairos.attempt": first.attempt,
                }
                if len(items) == 1
                else {}
            ),
        }
        parent = first.traceparent if len(items) == 1 else None
        with telemetry.span(f"deliver {first.capability}", parent=parent, attributes=attributes):
            try:
                async with asyncio.timeout(deadline):
                    if len(items) == 1 or not isinstance(executor, BatchTargetExecutor):
                        outcomes = [await executor.execute(*items[0])]
                    else:
                        outcomes = list(await executor.execute_many(items))
            except (ExecutionFailed, TimeoutError, DomainError) as exc:
                outcomes = [exc] * len(items)
            except Exception as exc:  # a target's bug or outage: a failed attempt
                if not resilience.is_transient(exc):
                    log.error("%s target raised", first.capability, exc_info=exc)
                outcomes = [ExecutionFailed(resilience.describe(exc))] * len(items)
        for (run, _), outcome in zip(items, outcomes, strict=True):
            reports[run.id] = _report(run, outcome)
    return [reports[run.id] for run in runs]


def _report(run: Run, outcome: Exception | Mapping[str, Any] | None) -> use.Report:
    if outcome is None or isinstance(outcome, Mapping):
        return use.Report(run, detail=outcome)
    if isinstance(outcome, ExecutionFailed):
        retry = None if outcome.retry_after is None else timedelta(seconds=outcome.retry_after)
        response = outcome.details.get("response")
        return use.Report(
            run,
            error=outcome.message,
            retry_after=retry,
            detail=response if isinstance(response, Mapping) else None,
            gone=isinstance(outcome, TargetGone),
            final=isinstance(outcome, TargetRefused),
            uncounted=isinstance(outcome, BrokerUnavailable),
        )
    if isinstance(outcome, TimeoutError):
        return use.Report(run, error="TIMEOUT")
    return use.Report(run, error=str(outcome) or type(outcome).__name__)

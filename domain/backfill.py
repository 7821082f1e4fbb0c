"""Backfill (docs/semantics.md, *Run identity*): run a schedule's fires of a past span
``[from_at, to_at)``.

- The fires are the rule's (the same planner as the materialiser), so their run keys
  are the scheduled fires' keys: a fire that already has a run is left alone, and
  repeating a backfill creates nothing new. A fire recorded ``missed`` or ``skipped``
  (it never ran) is re-armed into a run: that is what a backfill is for.
- At most ``max_runs`` fires (default 1,000, at most 10,000) per backfill; a longer span
  is cut there and ``next_from`` says where a follow-up starts.
- Pacing: backfill runs have the lowest priority, so live fires are claimed first, and
  become claimable at ``PACE`` per second.
- Overlap: ``buffer_all`` (default: in order, one at a time, each after the schedule's
  earlier runs ended) or ``allow`` (in parallel, bounded by the job's max_concurrency).
- The request names the backfill: its id is derived from (tenant, schedule, from, to,
  max_runs, overlap, ignore_calendar), so the same request answers the same backfill.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from domain.errors import InvalidRequest
from domain.ids import BackfillId, ScheduleId, TenantId
from domain.schedule import OverlapPolicy

DEFAULT_MAX_RUNS = 1000
MAX_RUNS = 10_000
PACE = 20.0  # runs per second becoming claimable
OVERLAPS = (OverlapPolicy.BUFFER_ALL, OverlapPolicy.ALLOW)
_NAMESPACE = uuid.UUID("6c1f8f46-93a4-4c52-8a39-0f2f8a3b1d17")


@dataclass(frozen=True, slots=True, kw_only=True)
class BackfillRequest:
    tenant_id: TenantId
    schedule_id: ScheduleId
    from_at: datetime
    to_at: datetime
    max_runs: int = DEFAULT_MAX_RUNS
    overlap_policy: OverlapPolicy = OverlapPolicy.BUFFER_ALL
    ignore_calendar: bool = False

    def check(self, now: datetime) -> None:
        if self.from_at >= self.to_at:
            raise InvalidRequest("from must be before to", field="from")
        if self.to_at > now:
            raise InvalidRequest(
                "to must not be in the future (later fires are the schedule's own)", field="to"
            )
        if not 1 <= self.max_runs <= MAX_RUNS:
            raise InvalidRequest(f"max_runs must be between 1 and {MAX_RUNS}", field="max_runs")
        if self.overlap_policy not in OVERLAPS:
            raise InvalidRequest(
                f"a backfill's overlap_policy is one of {[p.value for p in OVERLAPS]}",
                field="overlap_policy",
            )

    @property
    def id(self) -> BackfillId:
        key = "|".join(
            [
                self.tenant_id,
                str(self.schedule_id),
                self.from_at.isoformat(),
                self.to_at.isoformat(),
                str(self.max_runs),
                self.overlap_policy.value,
                str(self.ignore_calendar),
            ]
        )
        return BackfillId(uuid.uuid5(_NAMESPACE, key))


@dataclass(frozen=True, slots=True, kw_only=True)
class Backfill:
    request: BackfillRequest
    planned: int  # fires of the rule in the span (capped at max_runs)
    created: int  # runs created
    rearmed: int  # missed/skipped records turned into runs
    existing: int  # fires that already had a run (left alone)
    next_from: datetime | None  # cut at max_runs: the first fire not covered
    created_at: datetime

    @property
    def id(self) -> BackfillId:
        return self.request.id

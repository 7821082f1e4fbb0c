"""Per-tenant quotas (the operator's settings, the same for every tenant): how many
schedules a tenant may keep, how often a schedule may fire, how large a payload may be,
how many of its runs may run at once. The first three are checked where schedules and
triggers are written (a refusal names the quota); ``max_running`` where runs are claimed
(runs past it wait, pending, and are claimed as others end)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from domain.errors import Forbidden, InvalidRequest, InvalidSchedule
from domain.planning import plan
from domain.timing import Timing

INTERVAL_SAMPLE = 50  # fires looked at to find a schedule's shortest interval


@dataclass(frozen=True, slots=True)
class TenantLimits:
    max_schedules: int = 1_000
    min_interval: timedelta = timedelta(seconds=1)
    max_payload_bytes: int = 64 * 1024
    max_running: int | None = None  # None: bounded only by workers' capacity

    def check_count(self, live_schedules: int) -> None:
        if live_schedules >= self.max_schedules:
            raise Forbidden(
                f"the tenant's quota of {self.max_schedules} schedules is reached",
                quota="max_schedules",
                limit=self.max_schedules,
            )

    def check_payload(self, payload: Mapping[str, Any] | None) -> None:
        size = len(json.dumps(dict(payload or {}), separators=(",", ":"), default=str))
        if size > self.max_payload_bytes:
            raise InvalidRequest(
                f"payload is {size} bytes; the limit is {self.max_payload_bytes}",
                field="payload",
                quota="max_payload_bytes",
                limit=self.max_payload_bytes,
            )

    def check_interval(self, timing: Timing, now: datetime) -> None:
        """The shortest gap between the next fires may not be under ``min_interval``."""
        previous = None
        for i, fire in enumerate(plan(timing, now, inclusive=True, schedule_id="limits")):
            if i >= INTERVAL_SAMPLE:
                break
            if previous is not None and fire.nominal_at - previous < self.min_interval:
                raise InvalidSchedule(
                    "trigger",
                    f"fires {(fire.nominal_at - previous).total_seconds():g}s apart; the "
                    f"minimum interval is {self.min_interval.total_seconds():g}s",
                    quota="min_interval",
                )
            previous = fire.nominal_at

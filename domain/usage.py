"""What a tenant uses, next to its quotas (``GET /usage``; an operator sees every
tenant through ``GET /admin/usage``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from domain.ids import TenantId


@dataclass(frozen=True, slots=True)
class TenantUsage:
    tenant_id: TenantId
    schedules: int = 0  # live, as counted against max_schedules (system ones excluded)
    enabled: int = 0  # of which enabled
    jobs: int = 0  # the tenant's own (Kairos' system job excluded)
    running: int = 0  # as counted against max_running
    queued: int = 0  # scheduled or pending: waiting for a worker or their time
    waiting: int = 0  # for upstream schedules
    workers: int = 0  # registered and not offline
    ended: Mapping[str, int] = field(default_factory=dict)  # since the window's start, by status

"""The leader's rescuer: what no worker will finish is taken back or settled.

One pass, each step in its own system transaction fenced by the leases it acts under
(``service.loops.leadership``):

- runs of the replica's partitions whose lease lapsed (a worker that died or froze) or
  whose job timeout passed are taken back for a retry or ended
  (``service.usecases.runs.rescue``);
- by the holder of the cluster-wide lease only: workers silent past their heartbeats
  are marked offline (``service.usecases.worker_registry.sweep_silent``);
- runs of the replica's partitions waiting on upstream runs are released or failed
  once those ended (``service.usecases.dependencies.resolve_waiting``; an upstream run
  may be in any partition: it is only read).

``NotLeader`` when the lease was lost on the way (nothing of that step changed).
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.ports import Database
from service.loops.leadership import Fence
from service.usecases.dependencies import resolve_waiting
from service.usecases.runs import rescue
from service.usecases.worker_registry import sweep_silent

RESCUE_BATCH = 500


@dataclass(frozen=True, slots=True)
class Rescued:
    taken_back: int  # runs whose lease or timeout lapsed
    offline: int  # workers marked offline
    released: int  # waiting runs released or failed by their upstream runs


async def rescue_once(
    db: Database,
    *,
    fence: Fence | None,
    cluster: Fence | None = None,
    limit: int = RESCUE_BATCH,
) -> Rescued:
    """One rescuer pass (see the module docstring): ``fence`` over the replica's
    partitions (None: it holds none), ``cluster`` the cluster-wide lease (None: another
    replica holds it)."""
    taken = [] if fence is None else await rescue(db, fence=fence, limit=limit)
    offline = [] if cluster is None else await sweep_silent(db, fence=cluster)
    released = 0 if fence is None else await resolve_waiting(db, fence=fence)
    return Rescued(len(taken), len(offline), released)

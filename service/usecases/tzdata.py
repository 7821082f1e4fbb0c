"""Re-planning when the zone rules change (a new tzdata release).

The holder of the cluster-wide lease (``LEADER``) runs ``replan_zone_rules`` once when
it takes that lease, before it materialises anything: if the deployment's recorded
tzdata version is not this process's, every enabled or paused schedule whose rule reads
the wall clock has its stored next fire computed again under the process's rules. Each
one that moved is saved (a new version), announced with ``scheduler.schedule.updated``
(reason ``ZONE_RULES_CHANGED``, ``tzdata_from``, ``tzdata_to``, old and new next fire)
and listed in ``tzdata_replans`` for ``GET /tzdata`` and ``kairos tzdata``. Then the
version is recorded. Each batch is its own transaction fenced by the leader lease, so a
leader that lost the lease stops, and the next one starts again (the pass is idempotent:
a next fire that agrees with the rules is left alone).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from domain.errors import Conflict, DomainError, NotFound
from domain.events import DomainEvent
from domain.ids import ScheduleId, TenantId
from domain.ports import Database
from domain.tzdata import Replan, reason, replanned_next, wall_clock
from domain.zones import tzdata_version
from service import telemetry
from service.loops.leadership import Fence, fenced

log = logging.getLogger("kairos.tzdata")


@dataclass(frozen=True, slots=True)
class ReplanPass:
    tzdata_from: str | None
    tzdata_to: str
    checked: int = 0  # wall-clock schedules whose next fire was computed again
    replanned: list[Replan] = field(default_factory=list)


async def replan_zone_rules(
    db: Database, *, holder: str, epoch: int, version: str | None = None, batch: int = 500
) -> ReplanPass:
    """Re-plan stored next fires if the deployment planned with another tzdata."""
    current = version or tzdata_version()
    async with fenced(db, Fence.of(holder, epoch)) as tx:
        recorded = await tx.tzdata.recorded()
    if recorded == current:
        return ReplanPass(tzdata_from=recorded, tzdata_to=current)
    log.warning(
        "tzdata changed: planned with %s, this replica has %s; re-planning next fires",
        recorded or "an unrecorded version",
        current,
    )
    checked = 0
    replanned: list[Replan] = []
    after: tuple[TenantId, ScheduleId] | None = None
    while True:
        async with fenced(db, Fence.of(holder, epoch)) as tx:
            now = await tx.now()
            found = await tx.tzdata.planned(after, batch)
            events: list[DomainEvent] = []
            moved: list[Replan] = []
            for schedule, last_nominal in found:
                if not wall_clock(schedule):
                    continue
                checked += 1
                zone = schedule.timing.timezone
                try:
                    new = replanned_next(schedule, last_nominal=last_nominal)
                    if new is None or new == schedule.next_fire_at:
                        continue
                    updated, changed = schedule.replan(
                        next_fire_at=new,
                        now=now,
                        reason=reason(zone, recorded, current),
                        tzdata_from=recorded,
                        tzdata_to=current,
                    )
                    await tx.schedules.save(updated, expected_version=schedule.version)
                except (Conflict, NotFound):
                    continue  # changed or deleted meanwhile: planned again by that change
                except (DomainError, ValueError, ArithmeticError) as exc:
                    # A zone the new release no longer has, a rule that cannot be
                    # planned: the materialiser pauses such a schedule, saying why.
                    log.warning("schedule %s not re-planned: %s", schedule.id, exc)
                    continue
                events += changed
                moved.append(
                    Replan(
                        tenant_id=schedule.tenant_id,
                        schedule_id=schedule.id,
                        name=schedule.name,
                        timezone=zone,
                        tzdata_from=recorded or "unrecorded",
                        tzdata_to=current,
                        old_next_fire_at=schedule.next_fire_at,
                        new_next_fire_at=new,
                        replanned_at=now,
                    )
                )
                log.warning(
                    "schedule %s of tenant %s (%s): next fire %s -> %s under tzdata %s",
                    schedule.id,
                    schedule.tenant_id,
                    zone,
                    schedule.next_fire_at.isoformat() if schedule.next_fire_at else None,
                    new.isoformat(),
                    current,
                )
            await tx.tzdata.add(moved)
            await tx.outbox.append(events, traceparent=telemetry.current_traceparent())
        replanned += moved
        if len(found) < batch:
            break
        last = found[-1][0]
        after = (last.tenant_id, last.id)
    async with fenced(db, Fence.of(holder, epoch)) as tx:
        await tx.tzdata.record(current, replica=holder, now=await tx.now())
    return ReplanPass(tzdata_from=recorded, tzdata_to=current, checked=checked, replanned=replanned)


@dataclass(frozen=True, slots=True)
class ZoneRulesReport:
    version: str  # this process's
    deployment: str | None  # the version the stored next fires were planned with
    replanned: list[Replan]


async def zone_rules_report(
    db: Database, *, tenant_id: TenantId | None = None, limit: int = 100
) -> ZoneRulesReport:
    """What ``GET /tzdata`` and ``kairos tzdata`` show: versions and the schedules a
    change re-planned (one tenant's, or every tenant's without ``tenant_id``)."""
    scope = db.system() if tenant_id is None else db.transaction(tenant_id)
    async with scope as tx:
        recorded = await tx.tzdata.recorded()
        found = list(await tx.tzdata.replans(limit=limit))
    return ZoneRulesReport(version=tzdata_version(), deployment=recorded, replanned=found)


def render_report(report: ZoneRulesReport) -> dict[str, object]:
    def iso(value: object) -> str | None:
        return None if value is None else value.isoformat()  # type: ignore[attr-defined]

    return {
        "version": report.version,
        "deployment": report.deployment,
        "items": [
            {
                "tenant_id": r.tenant_id,
                "schedule_id": str(r.schedule_id),
                "name": r.name,
                "timezone": r.timezone,
                "tzdata_from": r.tzdata_from,
                "tzdata_to": r.tzdata_to,
                "old_next_fire_at": iso(r.old_next_fire_at),
                "new_next_fire_at": iso(r.new_next_fire_at),
                "replanned_at": iso(r.replanned_at),
            }
            for r in report.replanned
        ],
    }

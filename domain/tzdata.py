"""Zone rules changing under a schedule: which next fire a new tzdata release moves.

Governments change their clocks at short notice; a next fire computed under the old
rules is an hour off once the new release is in use. The stored next fire of a schedule
is re-planned under the process's rules (``replanned_next``); when it moves, the schedule
records why (``Schedule.replan``) and a ``Replan`` lists it for the operator.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from domain.ids import ScheduleId, TenantId
from domain.schedule import Schedule
from domain.triggers import CronTrigger, OneShotTrigger, RRuleTrigger

REASON = "ZONE_RULES_CHANGED"
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class Replan:
    """One schedule whose next fire a tzdata change moved."""

    tenant_id: TenantId
    schedule_id: ScheduleId
    name: str
    timezone: str
    tzdata_from: str
    tzdata_to: str
    old_next_fire_at: datetime | None
    new_next_fire_at: datetime | None
    replanned_at: datetime


def reason(timezone: str, tzdata_from: str | None, tzdata_to: str) -> str:
    return (
        f"{REASON}: the rules of {timezone} differ between tzdata "
        f"{tzdata_from or 'unrecorded'} and {tzdata_to}; the next fire was re-planned"
    )


def wall_clock(schedule: Schedule) -> bool:
    """Whether zone rules can move this schedule's fires at all."""
    trigger = schedule.timing.trigger
    if isinstance(trigger, OneShotTrigger):
        return trigger.local is not None
    return isinstance(trigger, CronTrigger | RRuleTrigger)


def replanned_next(schedule: Schedule, *, last_nominal: datetime | None) -> datetime | None:
    """The schedule's next fire under the active zone rules (``domain.zones``), whatever
    rules its timing was built with.

    Planning resumes just after what was already decided: the last materialised fire,
    and not before the schedule's last change (a resume ``from now`` must not bring its
    skipped fires back), nor after the stored next fire (which may itself have moved
    earlier). None if the rule has no fire left.
    """
    old = schedule.next_fire_at
    assert old is not None
    cursor = min(schedule.updated_at, old - _TICK)
    if last_nominal is not None and last_nominal > cursor:
        cursor = last_nominal
    # ``replace`` builds the timing again, binding its zone from the active source.
    timing = replace(schedule.timing)
    fire = next(timing.fires(cursor), None)
    return None if fire is None else fire.nominal_at

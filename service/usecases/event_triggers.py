"""Fire event-triggered schedules for one incoming message (rules in
``domain.inbound``)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.errors import DomainError, NotFound
from domain.ids import parse_tenant
from domain.inbound import DEBOUNCED, event_run_id, message_key, split_subject, subject_matches
from domain.ports import Database, RunFilter, UnitOfWork
from domain.run import Run, RunOrigin, RunStatus
from domain.schedule import Schedule
from domain.triggers import EventTrigger
from service.usecases.manual_triggers import fire_now


@dataclass(frozen=True, slots=True)
class Message:
    subject: str  # the full subject, t.<tenant>.<rest>
    body: bytes
    headers: Mapping[str, str]
    received_at: datetime  # when the stream stored it: the runs' nominal time


async def listened(db: Database, messages: list[Message]) -> list[bool]:
    """For each message, whether any enabled EVENT schedule of its tenant matches it:
    one query per tenant for the whole batch, so the messages nobody listens to (Kairos'
    own EVENT-target output, mostly) cost no transaction of their own."""
    patterns: dict[str, list[str] | None] = {}
    answers = []
    for message in messages:
        parts = split_subject(message.subject)
        if parts is None:
            answers.append(False)
            continue
        tenant, rest = parts
        if tenant not in patterns:
            try:
                tenant_id = parse_tenant(tenant)
            except DomainError:
                patterns[tenant] = None
            else:
                async with db.transaction(tenant_id) as tx:
                    found = await tx.schedules.event_schedules()
                patterns[tenant] = [_pattern(s) for s in found]
        listening = patterns[tenant]
        answers.append(bool(listening) and any(subject_matches(p, rest) for p in listening or ()))
    return answers


def _pattern(schedule: Schedule) -> str:
    trigger = schedule.timing.trigger
    assert isinstance(trigger, EventTrigger)
    return trigger.subject


async def on_message(db: Database, message: Message) -> list[Run]:
    """The runs (new or found again) this message makes; [] outside the namespace or
    when no schedule listens. Idempotent: a redelivered message finds its runs."""
    parts = split_subject(message.subject)
    if parts is None:
        return []
    tenant_id = parse_tenant(parts[0])
    rest = parts[1]
    key = message_key(message.headers.get("Nats-Msg-Id"), message.subject, message.body)
    made: list[Run] = []
    async with db.transaction(tenant_id) as tx:
        for schedule in await tx.schedules.event_schedules():
            trigger = schedule.timing.trigger
            assert isinstance(trigger, EventTrigger)
            if not subject_matches(trigger.subject, rest):
                continue
            run_id = event_run_id(tenant_id, schedule.id, key)
            try:
                made.append(await tx.runs.get(run_id))
                continue
            except NotFound:
                pass
            debounced = await _debounced(tx, schedule, trigger, message.received_at)
            fired = await fire_now(
                tx,
                schedule,
                payload={"event": _event(message, rest)},
                run_id=run_id,
                origin=RunOrigin.EVENT,
                nominal_at=message.received_at,
                skip_reason=DEBOUNCED if debounced else None,
            )
            made.append(fired.run)
    return made


async def _debounced(
    tx: UnitOfWork, schedule: Schedule, trigger: EventTrigger, at: datetime
) -> bool:
    """A run of the schedule that was not skipped has a fire within the window."""
    if not trigger.debounce:
        return False
    recent = await tx.runs.list(
        RunFilter(schedule_id=schedule.id, nominal_from=at - trigger.debounce),
        after=None,
        limit=50,
    )
    return any(r.status is not RunStatus.SKIPPED and r.nominal_at <= at for r in recent)


def _event(message: Message, rest: str) -> dict[str, Any]:
    data: Any = message.body.decode("utf-8", errors="replace")
    with contextlib.suppress(ValueError):
        data = json.loads(message.body)
    return {"subject": rest, "data": data, "headers": dict(message.headers)}

"""Trigger value objects: what makes a schedule fire (docs/semantics.md, *Triggers*).

A trigger only describes the rule; ``domain.timing.Timing`` binds it to a zone, a DST
policy and bounds, and produces fire times.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from domain import bounds
from domain.cron import CronExpression
from domain.durations import format_duration, parse_duration
from domain.errors import InvalidSchedule
from domain.rrules import RecurrenceText


class TriggerKind(enum.StrEnum):
    CRON = "CRON"
    RRULE = "RRULE"
    FIXED_DELAY = "FIXED_DELAY"
    ONE_SHOT = "ONE_SHOT"
    EVENT = "EVENT"


class DelayMode(enum.StrEnum):
    RATE = "rate"  # fixed rate anchored at start_at
    DELAY = "delay"  # next fire = previous run's end + every


@dataclass(frozen=True, slots=True, kw_only=True)
class CronTrigger:
    kind: ClassVar[TriggerKind] = TriggerKind.CRON
    expression: CronExpression

    @classmethod
    def parse(cls, text: str) -> CronTrigger:
        return cls(expression=CronExpression.parse(text))

    @property
    def periodic(self) -> bool:
        return self.expression.periodic

    def to_spec(self) -> dict[str, Any]:
        return {"type": self.kind.value, "expression": self.expression.text}


@dataclass(frozen=True, slots=True, kw_only=True)
class RRuleTrigger:
    kind: ClassVar[TriggerKind] = TriggerKind.RRULE
    recurrence: RecurrenceText

    @classmethod
    def parse(cls, text: str) -> RRuleTrigger:
        return cls(recurrence=RecurrenceText.parse(text))

    @property
    def periodic(self) -> bool:
        return self.recurrence.periodic

    def to_spec(self) -> dict[str, Any]:
        return {"type": self.kind.value, "rrule": self.recurrence.text}


MIN_EVERY = timedelta(seconds=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class FixedDelayTrigger:
    kind: ClassVar[TriggerKind] = TriggerKind.FIXED_DELAY
    every: timedelta
    mode: DelayMode = DelayMode.RATE

    def __post_init__(self) -> None:
        if self.every < MIN_EVERY:
            raise InvalidSchedule("every", f"must be at least {MIN_EVERY.total_seconds():g}s")

    periodic: ClassVar[bool] = True

    def next_after_completion(self, ended_at: datetime) -> datetime:
        """``delay`` mode: the next fire once the previous run ended at ``ended_at``."""
        return ended_at + self.every

    def to_spec(self) -> dict[str, Any]:
        return {"type": self.kind.value, "every": format_duration(self.every), "mode": self.mode}


@dataclass(frozen=True, slots=True, kw_only=True)
class OneShotTrigger:
    """Fires once: at an instant (``at``), or at a local reading (``local``) in the zone."""

    kind: ClassVar[TriggerKind] = TriggerKind.ONE_SHOT
    at: datetime | None = None
    local: datetime | None = None

    periodic: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if (self.at is None) == (self.local is None):
            raise InvalidSchedule("at", "give exactly one of an instant or a local time")
        if self.at is not None and self.at.tzinfo is None:
            raise InvalidSchedule("at", "an instant needs a UTC offset")
        if self.local is not None and self.local.tzinfo is not None:
            raise InvalidSchedule("at", "a local time carries no offset")

    @classmethod
    def parse(cls, text: str) -> OneShotTrigger:
        raw = text.strip()
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            raise InvalidSchedule(
                "at", f"{raw!r} is not ISO 8601 (2026-03-29T02:30 or with an offset)"
            ) from None
        if not bounds.MIN_INSTANT.year <= value.year < bounds.MAX_INSTANT.year:
            raise InvalidSchedule(
                "at",
                f"the year must be from {bounds.MIN_INSTANT.year} to {bounds.MAX_INSTANT.year - 1}",
            )
        if value.tzinfo is None:
            return cls(local=value)
        return cls(at=value)

    def to_spec(self) -> dict[str, Any]:
        value = self.at if self.at is not None else self.local
        assert value is not None
        return {"type": self.kind.value, "at": value.isoformat()}


# A subject pattern relative to the tenant's namespace: tokens of [A-Za-z0-9_-], with
# NATS wildcards '*' (one token) and '>' (the rest, last only).
_SUBJECT_TOKEN = re.compile(r"^[A-Za-z0-9_\-]+$")


@dataclass(frozen=True, slots=True, kw_only=True)
class EventTrigger:
    kind: ClassVar[TriggerKind] = TriggerKind.EVENT
    subject: str
    debounce: timedelta = timedelta(0)

    periodic: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if len(self.subject) > bounds.MAX_SUBJECT:
            raise InvalidSchedule("subject", f"at most {bounds.MAX_SUBJECT} characters")
        tokens = self.subject.split(".")
        if len(tokens) > bounds.MAX_SUBJECT_TOKENS:
            raise InvalidSchedule("subject", f"at most {bounds.MAX_SUBJECT_TOKENS} tokens")
        for i, token in enumerate(tokens):
            if token == ">" and i == len(tokens) - 1:
                continue
            if token != "*" and not _SUBJECT_TOKEN.match(token):
                raise InvalidSchedule(
                    "subject", f"{self.subject!r}: token {token!r} is not a valid subject token"
                )
        if not timedelta(0) <= self.debounce <= bounds.MAX_DEBOUNCE:
            raise InvalidSchedule("debounce", f"must be from 0 to {bounds.MAX_DEBOUNCE}")

    def to_spec(self) -> dict[str, Any]:
        return {
            "type": self.kind.value,
            "subject": self.subject,
            "debounce": format_duration(self.debounce),
        }


Trigger = CronTrigger | RRuleTrigger | FixedDelayTrigger | OneShotTrigger | EventTrigger


_KEYS: dict[TriggerKind, frozenset[str]] = {
    TriggerKind.CRON: frozenset({"type", "expression"}),
    TriggerKind.RRULE: frozenset({"type", "rrule"}),
    TriggerKind.FIXED_DELAY: frozenset({"type", "every", "mode"}),
    TriggerKind.ONE_SHOT: frozenset({"type", "at"}),
    TriggerKind.EVENT: frozenset({"type", "subject", "debounce"}),
}


def parse_trigger(spec: Mapping[str, Any]) -> Trigger:
    """Build a trigger from its JSON-like spec (``{"type": "CRON", "expression": ...}``)."""
    kind_text = str(spec.get("type", "")).upper()
    try:
        kind = TriggerKind(kind_text)
    except ValueError:
        raise InvalidSchedule(
            "trigger.type",
            f"{spec.get('type')!r}; expected one of {[k.value for k in TriggerKind]}",
        ) from None
    unknown = sorted(str(k) for k in spec if k not in _KEYS[kind])
    if unknown:
        # A wrong key (``cron`` for ``expression``) is named as what it is, before the
        # key it stands for is found missing.
        expected = ", ".join(sorted(_KEYS[kind] - {"type"}))
        raise InvalidSchedule(
            f"trigger.{unknown[0]}", f"unknown key for a {kind.value} trigger; it takes {expected}"
        )

    def text(key: str, maximum: int = bounds.MAX_EXPRESSION) -> str:
        value = spec.get(key)
        if not isinstance(value, str) or not value.strip():
            raise InvalidSchedule(f"trigger.{key}", "required text")
        if len(value) > maximum:
            raise InvalidSchedule(f"trigger.{key}", f"at most {maximum} characters")
        bad = bounds.unstorable(value)
        if bad is not None:
            raise InvalidSchedule(f"trigger.{key}", f"contains {bad}")
        return value

    if kind is TriggerKind.CRON:
        return CronTrigger.parse(text("expression"))
    if kind is TriggerKind.RRULE:
        return RRuleTrigger.parse(text("rrule", bounds.MAX_RRULE))
    if kind is TriggerKind.FIXED_DELAY:
        every = spec.get("every")
        if isinstance(every, int | float) and not isinstance(every, bool):
            every = str(every)
        if not isinstance(every, str):
            raise InvalidSchedule("trigger.every", "required duration (e.g. PT5M or 300)")
        mode_text = str(spec.get("mode", DelayMode.RATE.value)).lower()
        try:
            mode = DelayMode(mode_text)
        except ValueError:
            raise InvalidSchedule(
                "trigger.mode", f"{mode_text!r}; expected rate or delay"
            ) from None
        period = parse_duration(every, field="trigger.every")
        if not bounds.MIN_EVERY <= period <= bounds.MAX_EVERY:
            raise InvalidSchedule(
                "trigger.every", f"must be from 1 ms to {bounds.MAX_EVERY.days} days"
            )
        return FixedDelayTrigger(every=period, mode=mode)
    if kind is TriggerKind.ONE_SHOT:
        return OneShotTrigger.parse(text("at"))
    debounce = spec.get("debounce")
    return EventTrigger(
        subject=text("subject"),
        debounce=parse_duration(str(debounce), field="trigger.debounce")
        if debounce
        else timedelta(0),
    )

"""Rows that cannot be read stop nothing: a stored schedule or run whose document no
longer decodes (written around the API, by hand, or corrupted) is taken out of the way
with a reason a user can see, and every loop goes on with the rest.

- A schedule is paused, its reason kept (``state_reason``), and
  ``scheduler.schedule.disabled`` says why.
- A run ends ``dead`` with the reason, and ``scheduler.run.dead`` says why.

The storage adapter finds them (it is the one that reads rows); this module says what
the record and its event are.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime

from domain.events import DomainEvent, EventType
from domain.ids import TenantId

MAX_REASON = 500


class Kind(enum.StrEnum):
    SCHEDULE = "schedule"
    RUN = "run"


def reason_of(what: str, error: BaseException) -> str:
    """``what`` plus the error, short enough for a column and an event."""
    text = f"{what}: {type(error).__name__}: {error}"
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 3] + "..."


@dataclass(frozen=True, slots=True, kw_only=True)
class Unreadable:
    kind: Kind
    tenant_id: TenantId
    id: uuid.UUID
    revision: int  # the row's version after the quarantine (the event's identity)
    reason: str
    name: str | None = None

    def event(self, now: datetime) -> DomainEvent:
        if self.kind is Kind.SCHEDULE:
            return DomainEvent.of(
                EventType.SCHEDULE_DISABLED,
                tenant_id=self.tenant_id,
                aggregate_id=self.id,
                revision=self.revision,
                occurred_at=now,
                data={
                    "schedule_id": str(self.id),
                    "name": self.name,
                    "state": "paused",
                    "version": self.revision,
                    "reason": self.reason,
                },
            )
        return DomainEvent.of(
            EventType.RUN_DEAD,
            tenant_id=self.tenant_id,
            aggregate_id=self.id,
            revision=f"unreadable-{self.revision}",
            occurred_at=now,
            data={"run_id": str(self.id), "status": "dead", "reason": self.reason},
        )

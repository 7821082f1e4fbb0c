"""Identifiers.

Ids are strings at the edges (JSON, SQL text) and UUIDs inside; a run's id is derived
from its key so that materialising the same fire twice produces the same id.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import NewType

from domain.errors import InvalidRequest

TenantId = NewType("TenantId", str)
ScheduleId = NewType("ScheduleId", uuid.UUID)
JobId = NewType("JobId", uuid.UUID)
RunId = NewType("RunId", uuid.UUID)
WorkerId = NewType("WorkerId", uuid.UUID)
CalendarId = NewType("CalendarId", uuid.UUID)
EventId = NewType("EventId", uuid.UUID)
BackfillId = NewType("BackfillId", uuid.UUID)

# A tenant id is one NATS subject token (events go to ``scheduler.<entity>.<event>.<tenant>``):
# no dots, wildcards or spaces. A leading underscore is reserved for Kairos itself.
_TENANT = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
SYSTEM_TENANT = TenantId("_system")


def parse_tenant(text: str) -> TenantId:
    """A tenant id from outside (flag, header, token claim); ``InvalidRequest`` if malformed."""
    if not _TENANT.fullmatch(text):
        raise InvalidRequest(
            "tenant ids are 1-63 characters of a-z, 0-9, '_' and '-', starting with a "
            "letter or digit",
            field="tenant",
            value=text[:80],
        )
    return TenantId(text)


# Fixed namespace for run ids: changing it would change every run's identity.
RUN_NAMESPACE = uuid.UUID("6f1c2b0e-4a53-5d4e-9b7a-6b61697273a1")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def manual_run_id(tenant_id: TenantId, schedule_id: ScheduleId, idempotency_key: str) -> RunId:
    """The run id of a manual trigger carrying an ``Idempotency-Key``: the same key for
    the same schedule always names the same run (docs/semantics.md, *Run identity*)."""
    return RunId(uuid.uuid5(RUN_NAMESPACE, f"{tenant_id}|{schedule_id}|manual|{idempotency_key}"))


def run_id_for(tenant_id: TenantId, schedule_id: ScheduleId, nominal_at: datetime) -> RunId:
    """The run id of a fire: UUIDv5 of ``(tenant_id, schedule_id, nominal_at)``.

    ``nominal_at`` must be aware; it is rendered as integer microseconds since the epoch so
    two replicas agree byte for byte, whatever zone the value carries.
    """
    if nominal_at.tzinfo is None:
        raise ValueError("nominal_at must be timezone-aware")
    micros = (nominal_at - _EPOCH) // _MICROSECOND
    key = f"{tenant_id}|{schedule_id}|{micros}"
    return RunId(uuid.uuid5(RUN_NAMESPACE, key))


def new_id() -> uuid.UUID:
    """A random id (uuid4) for entities whose identity is not derived from a key."""
    return uuid.uuid4()

"""Event-triggered schedules (trigger type EVENT): which schedules a message fires, and
the identity of the run it makes.

- A schedule's ``subject`` is a pattern within its tenant's namespace; a message on
  ``t.<tenant>.<rest>`` fires every enabled EVENT schedule of that tenant whose pattern
  matches ``<rest>`` (NATS rules: ``*`` one token, a final ``>`` one or more).
- Each distinct message fires a schedule once: the run id is derived from (tenant,
  schedule, message key), the key being the ``Nats-Msg-Id`` header or, without one, a
  SHA-256 of subject and body. A redelivered or republished message finds its run.
- ``debounce``: a schedule fires at most once per debounce window (leading edge); a
  message within the window of the last event run is recorded ``skipped`` with reason
  ``debounced``.
"""

from __future__ import annotations

import hashlib
import uuid

from domain.ids import RUN_NAMESPACE, RunId, ScheduleId, TenantId

NAMESPACE_PREFIX = "t"
# Inbound events that crossed from a tenant's own NATS account (deploy/nats): the
# tenant publishes on in.<tenant>.<rest>; it fires the same schedules as t.<tenant>.<rest>.
ACCOUNT_PREFIX = "in"
DEBOUNCED = "debounced"


def subject_matches(pattern: str, subject: str) -> bool:
    want, got = pattern.split("."), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(got) > i
        if i >= len(got) or (token != "*" and token != got[i]):
            return False
    return len(got) == len(want)


def message_key(msg_id: str | None, subject: str, body: bytes) -> str:
    if msg_id:
        return f"id:{msg_id}"
    digest = hashlib.sha256(subject.encode() + b"\x00" + body).hexdigest()
    return f"sha256:{digest}"


def event_run_id(tenant_id: TenantId, schedule_id: ScheduleId, key: str) -> RunId:
    return RunId(uuid.uuid5(RUN_NAMESPACE, f"{tenant_id}|{schedule_id}|event|{key}"))


def split_subject(subject: str) -> tuple[str, str] | None:
    """``t.<tenant>.<rest>`` or ``in.<tenant>.<rest>`` -> (tenant text, rest); None
    outside the namespace."""
    parts = subject.split(".", 2)
    prefixes = (NAMESPACE_PREFIX, ACCOUNT_PREFIX)
    if len(parts) != 3 or parts[0] not in prefixes or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]

"""Inbound manual triggers over NATS request/reply (docs/semantics.md, *Events*):
``scheduler.trigger.<tenant>``.

Request: a JSON object naming the schedule by ``schedule_id`` or ``name``, with optional
``payload``, ``overlap_policy`` and ``idempotency_key`` (else the ``Nats-Msg-Id`` header
is the key). Reply: ``{"run": {...}, "created": bool}`` - the same run document as
``POST /schedules/{id}/trigger`` - or the error envelope. The tenant is the subject's
last token; NATS permissions decide who may publish there (deploy/ documents them).

Every replica subscribes in one queue group, so each request is answered once.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from adapters import jsonfast
from adapters.envelope import error_body
from adapters.http import models
from domain.errors import DomainError, InvalidRequest
from domain.ids import ScheduleId, parse_tenant
from domain.ports import Database
from service import telemetry
from service.usecases import parsing
from service.usecases.manual_triggers import trigger_schedule

log = logging.getLogger("kairos.triggers")

SUBJECT = "scheduler.trigger.*"
QUEUE = "kairos-triggers"
_OPTIONS = ("payload", "overlap_policy")


class TriggerResponder:
    def __init__(self, nc: Client, db: Database) -> None:
        self._nc = nc
        self._db = db
        self._sub: Subscription | None = None

    async def start(self) -> None:
        self._sub = await self._nc.subscribe(SUBJECT, queue=QUEUE, cb=self._on_request)

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    async def _on_request(self, msg: Msg) -> None:
        if not msg.reply:
            return  # a publish, not a request: nobody to answer
        try:
            headers = msg.headers or {}
            # The caller's trace (a traceparent header) continues through the run.
            with telemetry.span("trigger request", parent=headers.get("traceparent")):
                answer = await self.answer(msg.subject, msg.data, headers)
        except DomainError as exc:
            answer = error_body(exc.code, exc.message, exc.details)
        except OSError as exc:  # DependencyUnavailable (a ConnectionError): the database is down
            answer = error_body("UNAVAILABLE", f"the database is unavailable: {exc}")
        except Exception:
            error_id = str(uuid.uuid4())
            log.exception("trigger request failed (error id %s)", error_id)
            answer = error_body("INTERNAL", "internal error", {"error_id": error_id})
        await msg.respond(jsonfast.dumps(answer))

    async def answer(self, subject: str, data: bytes, headers: dict[str, str]) -> dict[str, Any]:
        tenant = parse_tenant(subject.rsplit(".", 1)[-1])
        try:
            doc = jsonfast.loads(data)
        except ValueError:
            raise InvalidRequest("the request is not JSON", field="body") from None
        if not isinstance(doc, dict):
            raise InvalidRequest("the request must be a JSON object", field="body")
        unknown = sorted(set(doc) - {"schedule_id", "name", "idempotency_key", *_OPTIONS})
        if unknown:
            raise InvalidRequest(f"unknown field {unknown[0]!r}", field=unknown[0])
        key = doc.get("idempotency_key", headers.get("Nats-Msg-Id"))
        if key is not None and not isinstance(key, str):
            raise InvalidRequest("idempotency_key must be a string", field="idempotency_key")
        command = parsing.trigger_schedule(
            {k: doc[k] for k in _OPTIONS if k in doc},
            tenant_id=tenant,
            schedule_id=_schedule_id(doc.get("schedule_id")),
            schedule_name=_name(doc.get("name")),
            idempotency_key=key,
        )
        done = await trigger_schedule(self._db, command)
        run = models.Run.from_domain(done.run).model_dump(mode="json", exclude_unset=True)
        return {"run": run, "created": done.created}


def _schedule_id(value: object) -> ScheduleId | None:
    if value is None:
        return None
    try:
        return ScheduleId(uuid.UUID(str(value)))
    except ValueError:
        raise InvalidRequest("schedule_id must be a UUID", field="schedule_id") from None


def _name(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise InvalidRequest("name must be a string", field="name")

"""Manual triggers over NATS request/reply (`scheduler.trigger.<tenant>`), real servers."""

from __future__ import annotations

import json
import uuid
from typing import Any

import nats

from adapters.embedded.nats import EmbeddedNats
from adapters.nats.trigger_responder import TriggerResponder
from adapters.postgres.database import PostgresDatabase, create_pool
from domain.ids import TenantId
from domain.schedule import OverlapPolicy
from domain.timing import Timing
from domain.triggers import CronTrigger
from service.usecases.commands import CreateSchedule
from service.usecases.schedules import create_schedule
from tests.builders import add_event_job
from tests.servers import app_dsn

ACME = TenantId("acme")


async def test_trigger_requests_answer_the_run_or_the_error_envelope(
    database: str, nats_server: EmbeddedNats
) -> None:
    """By name and by id; Nats-Msg-Id as the idempotency key (one run for two
    requests); unknown schedule, another tenant, bad JSON: the envelope, never silence."""
    pool = await create_pool(app_dsn(database, "kairos_scheduler"))
    db = PostgresDatabase(pool)
    nc = await nats.connect(nats_server.url)
    responder = TriggerResponder(nc, db)
    await responder.start()
    try:
        job = await add_event_job(db, ACME, "nightly")
        schedule = await create_schedule(
            db,
            CreateSchedule(
                tenant_id=ACME,
                name="nightly-report",
                job_id=job.id,
                timing=Timing(trigger=CronTrigger.parse("0 3 * * *")),
                overlap_policy=OverlapPolicy.ALLOW,
            ),
        )

        async def ask(body: Any, tenant: str = "acme", **headers: str) -> dict[str, Any]:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            reply = await nc.request(
                f"scheduler.trigger.{tenant}", data, timeout=5, headers=headers or None
            )
            answer: dict[str, Any] = json.loads(reply.data)
            return answer

        by_name = await ask({"name": "nightly-report", "payload": {"why": "rerun"}})
        assert by_name["created"] is True
        assert (by_name["run"]["origin"], by_name["run"]["payload"]) == ("manual", {"why": "rerun"})
        keyed = [
            await ask({"schedule_id": str(schedule.id)}, **{"Nats-Msg-Id": "ops-7"})
            for _ in range(2)
        ]
        assert [k["created"] for k in keyed] == [True, False]
        assert keyed[0]["run"]["id"] == keyed[1]["run"]["id"]
        for body, tenant, code in [
            ({"schedule_id": str(uuid.uuid4())}, "acme", "NOT_FOUND"),
            ({"schedule_id": str(schedule.id)}, "globex", "NOT_FOUND"),
            ({"name": "nightly-report", "overlap_policy": "never"}, "acme", "INVALID_REQUEST"),
            ({}, "acme", "INVALID_REQUEST"),
            (b"{not json", "acme", "INVALID_REQUEST"),
            ({"name": "nightly-report"}, "Not-A-Tenant", "INVALID_REQUEST"),
        ]:
            answer = await ask(body, tenant)
            assert set(answer) == {"error"}, answer
            assert answer["error"]["code"] == code, (body, tenant, answer)
            assert set(answer["error"]) == {"code", "message", "details", "timestamp"}
    finally:
        await responder.stop()
        await nc.drain()
        await pool.close()

"""One trace from an API request through the run to the target: a manual trigger sent
with a traceparent, the run's delivery span under the request's span, and the webhook
carrying the same trace to its receiver."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import nats
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from adapters.clock import SystemClock
from adapters.embedded.nats import EmbeddedNats
from adapters.http.api import create_app, header_principal
from adapters.http_target.executor import HttpTargetExecutor
from adapters.http_target.ssrf import parse_allowlist
from adapters.memory.clock import FakeClock
from adapters.memory.database import MemoryDatabase
from adapters.nats.cloudevents import envelope
from adapters.nats.publisher import _headers
from adapters.nats.trigger_responder import TriggerResponder
from adapters.postgres.database import PostgresDatabase, create_pool
from adapters.secrets import FernetSecretBox
from domain.addresses import AddressPolicy
from domain.ids import RunId, TenantId
from domain.job import TargetKind
from domain.ports import Clock
from domain.timing import Timing
from domain.triggers import CronTrigger
from service.loops.leadership import acquire_all
from service.loops.materialiser import materialise_due
from service.loops.worker_pool import WorkerPool
from service.usecases.commands import CreateSchedule
from service.usecases.schedules import create_schedule
from tests.builders import add_event_job
from tests.receiver import Receiver, receiver
from tests.servers import app_dsn

EXPORTER = InMemorySpanExporter()
_provider = TracerProvider()
_provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
trace.set_tracer_provider(_provider)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
ACME = {"Kairos-Tenant": "acme"}


@dataclass
class Stack:
    """The API, a worker pool with the HTTP target, and a receiver behind an HTTP job."""

    db: MemoryDatabase
    api: httpx.AsyncClient
    pool: WorkerPool
    http: HttpTargetExecutor
    received: Receiver
    job_id: str


@asynccontextmanager
async def stack(clock: Clock) -> AsyncIterator[Stack]:
    box = FernetSecretBox(FernetSecretBox.generate_key())
    db = MemoryDatabase(clock)
    local = parse_allowlist("127.0.0.1/32")
    app = create_app(db, auth=header_principal, secrets=box, addresses=AddressPolicy(local))
    http = HttpTargetExecutor(box, SystemClock(), allow=local)
    pool = WorkerPool(db, {TargetKind.HTTP: http}, clock)
    async with (
        receiver() as r,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://kairos", headers=ACME
        ) as api,
    ):
        job = await api.post(
            "/jobs", json={"name": "hook", "target": {"kind": "HTTP", "config": {"url": r.url}}}
        )
        try:
            yield Stack(db, api, pool, http, r, job.json()["id"])
        finally:
            await http.aclose()


async def test_a_trace_spans_api_run_and_target() -> None:
    """trigger (traceparent given) -> POST span in that trace -> deliver HTTP span as its
    child -> the webhook's traceparent in the same trace, parented by the delivery."""
    async with stack(SystemClock()) as k:
        db, api, pool, r = k.db, k.api, k.pool, k.received
        schedule = await api.post(
            "/schedules",
            json={
                "name": "s",
                "job_id": k.job_id,
                "trigger": {"type": "CRON", "expression": "0 3 * * *"},
            },
        )
        EXPORTER.clear()
        parent = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
        fired = await api.post(
            f"/schedules/{schedule.json()['id']}/trigger",
            json={},
            headers={"traceparent": parent},
        )
        assert fired.status_code == 201
        assert await pool.process() == 1
    finished = EXPORTER.get_finished_spans()
    by_id = {s.context.span_id: s for s in finished}
    (deliver,) = [s for s in finished if s.name == "deliver HTTP"]
    chain = [deliver]
    while chain[-1].parent is not None and chain[-1].parent.span_id in by_id:
        chain.append(by_id[chain[-1].parent.span_id])
    names = [s.name for s in chain]
    assert names[0] == "deliver HTTP"
    assert "POST /schedules/{schedule_id}/trigger" in names  # the API request's span
    root = chain[-1]
    assert root.parent is not None
    assert format(root.parent.span_id, "016x") == "00f067aa0ba902b7"  # the caller's
    assert {format(s.context.trace_id, "032x") for s in chain} == {TRACE_ID}
    assert deliver.attributes is not None
    assert deliver.attributes["kairos.run_id"] == fired.json()["id"]
    (sent,) = r.received
    _, trace_id, span_id, _ = sent.headers["traceparent"].split("-")
    assert (trace_id, span_id) == (TRACE_ID, format(deliver.context.span_id, "016x"))
    run_events = [e for e in db.outbox if e.aggregate_id == uuid.UUID(fired.json()["id"])]
    assert [e.type.value for e in run_events] == [
        "scheduler.run.started",
        "scheduler.run.succeeded",
    ]
    for event in run_events:  # the run's CloudEvents carry the trigger's trace
        assert envelope(event)["traceparent"].split("-")[1] == TRACE_ID


async def test_a_scheduled_fire_starts_a_trace_that_its_delivery_and_events_join() -> None:
    """A materialised fire opens a root "fire" span; its run keeps that trace: the
    delivery span is the fire's child, the webhook carries it, and so do the run's
    events. The schedule's own event carries the API request's trace."""
    clock = FakeClock(datetime(2026, 3, 8, 12, 0, 30, tzinfo=UTC))
    async with stack(clock) as k:
        db, api, pool, r = k.db, k.api, k.pool, k.received
        schedule = await api.post(
            "/schedules",
            json={
                "name": "minutely",
                "job_id": k.job_id,
                "trigger": {"type": "CRON", "expression": "* * * * *"},
            },
            headers={"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"},
        )
        assert schedule.status_code == 201
        async with db.system() as tx:
            epoch = await acquire_all(tx.leader, "me", timedelta(minutes=5))
        assert epoch is not None
        EXPORTER.clear()
        clock.advance(timedelta(minutes=1))
        done = await materialise_due(db, fence=epoch, horizon=timedelta(0))
        assert done.runs == 1
        assert await pool.process() == 1
    finished = EXPORTER.get_finished_spans()
    (fire,) = [s for s in finished if s.name == "fire"]
    (deliver,) = [s for s in finished if s.name == "deliver HTTP"]
    assert fire.parent is None  # a new trace, not the leader loop's nor a request's
    assert fire.attributes is not None
    assert fire.attributes["kairos.schedule_id"] == schedule.json()["id"]
    assert fire.attributes["kairos.fire"] == "run"
    assert deliver.parent is not None
    assert deliver.parent.span_id == fire.context.span_id
    fire_trace = format(fire.context.trace_id, "032x")
    assert fire_trace != TRACE_ID
    (sent,) = r.received
    assert sent.headers["traceparent"].split("-")[1] == fire_trace
    run_id = uuid.UUID(str(fire.attributes["kairos.run_id"]))
    run_events = [e for e in db.outbox if e.aggregate_id == run_id]
    assert [e.type.value for e in run_events] == [
        "scheduler.run.started",
        "scheduler.run.succeeded",
    ]
    assert {envelope(e)["traceparent"].split("-")[1] for e in run_events} == {fire_trace}
    (created,) = [
        e
        for e in db.outbox
        if e.type.value == "scheduler.schedule.created"
        and e.aggregate_id == uuid.UUID(schedule.json()["id"])
    ]
    assert envelope(created)["traceparent"].split("-")[1] == TRACE_ID


async def test_a_nats_trigger_request_continues_the_callers_trace(
    database: str, nats_server: EmbeddedNats
) -> None:
    """scheduler.trigger.<tenant> with a traceparent header: the run records that trace
    (its deliveries and events continue it), and its relayed events carry it as a NATS
    header as well as in the CloudEvent."""
    pool = await create_pool(app_dsn(database, "kairos_scheduler"))
    db = PostgresDatabase(pool)
    nc = await nats.connect(nats_server.url)
    responder = TriggerResponder(nc, db)
    await responder.start()
    try:
        job = await add_event_job(db, TenantId("acme"), "nightly")
        await create_schedule(
            db,
            CreateSchedule(
                tenant_id=TenantId("acme"),
                name="nightly-report",
                job_id=job.id,
                timing=Timing(trigger=CronTrigger.parse("0 3 * * *")),
            ),
        )
        reply = await nc.request(
            "scheduler.trigger.acme",
            json.dumps({"name": "nightly-report"}).encode(),
            timeout=5,
            headers={"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"},
        )
        run_id = uuid.UUID(json.loads(reply.data)["run"]["id"])
        async with db.transaction(TenantId("acme")) as tx:
            run = await tx.runs.get(RunId(run_id))
        assert run.traceparent is not None
        assert run.traceparent.split("-")[1] == TRACE_ID
        _, events = run.cancel(reason="test", now=run.created_at)  # any of its events
        assert [_headers(e)["traceparent"].split("-")[1] for e in events] == [TRACE_ID]
    finally:
        await responder.stop()
        await nc.drain()
        await pool.close()

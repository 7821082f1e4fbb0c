"""The QUEUE target on a real nats-server: the tenant's work-queue stream is created
with the configured limits, a run's message carries its id as Nats-Msg-Id, a retried
attempt is stored once, and a full queue fails the attempt instead of dropping work."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import nats
import pytest
from nats.js.api import RetentionPolicy

from adapters.embedded.nats import EmbeddedNats
from adapters.nats.queue_target import QueueLimits, QueueTarget, stream_name
from domain.errors import ExecutionFailed
from domain.ids import JobId, ScheduleId, TenantId, WorkerId, new_id
from domain.job import Job, Priority, Target, TargetKind
from domain.run import NewRun, Run

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def job(tenant: str, queue: str = "reports") -> Job:
    return Job(
        id=JobId(new_id()),
        tenant_id=TenantId(tenant),
        name="q",
        target=Target(kind=TargetKind.QUEUE, config={"queue": queue}),
        created_at=NOW,
        updated_at=NOW,
    )


def running(j: Job, minute: int) -> Run:
    run, _ = Run.dispatched(
        NewRun(
            tenant_id=j.tenant_id,
            schedule_id=ScheduleId(new_id()),
            job_id=j.id,
            nominal_at=NOW + timedelta(minutes=minute),
            dispatch_at=NOW,
            max_attempts=3,
            priority=Priority.NORMAL,
            capability="QUEUE",
            payload={"n": minute},
        ),
        now=NOW,
    )
    started, _ = run.start(worker_id=WorkerId(new_id()), token=1, lease_until=NOW, now=NOW)
    return started


async def test_runs_land_once_on_the_tenants_work_queue(nats_server: EmbeddedNats) -> None:
    """Two runs and a retry of the first: 2 messages, ids as Nats-Msg-Id, the retry
    acknowledged as a duplicate; the stream is a work queue with our limits."""
    nc = await nats.connect(nats_server.url)
    tenant = f"q{new_id().hex[:8]}"
    try:
        target = QueueTarget(nc, QueueLimits(max_msgs=50, max_bytes=1 << 20))
        j = job(tenant)
        first, second = running(j, 1), running(j, 2)
        assert (await target.execute(first, j) or {})["duplicate"] is False
        await target.execute(second, j)
        retry = await target.execute(first, j)
        assert retry is not None
        assert retry["duplicate"] is True
        js = nc.jetstream()
        info = await js.stream_info(stream_name(tenant))
        assert info.config.retention == RetentionPolicy.WORK_QUEUE.value
        assert (info.config.max_msgs, info.config.max_bytes) == (50, 1 << 20)
        assert info.state.messages == 2
        sub = await js.pull_subscribe(f"q.{tenant}.reports", durable="reporter")
        messages = await sub.fetch(10, timeout=2)
        assert [m.headers["Nats-Msg-Id"] for m in messages if m.headers] == [
            str(first.id),
            str(second.id),
        ]
        assert json.loads(messages[0].data)["payload"] == {"n": 1}
    finally:
        await nc.drain()


async def test_a_full_queue_fails_the_attempt(nats_server: EmbeddedNats) -> None:
    """max_msgs 1 and nobody consuming: the second run's attempt fails (retryable)."""
    nc = await nats.connect(nats_server.url)
    tenant = f"q{new_id().hex[:8]}"
    try:
        target = QueueTarget(nc, QueueLimits(max_msgs=1))
        j = job(tenant)
        await target.execute(running(j, 1), j)
        with pytest.raises(ExecutionFailed, match="did not acknowledge"):
            await target.execute(running(j, 2), j)
    finally:
        await nc.drain()

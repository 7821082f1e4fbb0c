"""The HTTP target on real PostgreSQL with a real local receiver: Standard Webhooks
signatures verified with the ``standardwebhooks`` package, the same ``webhook-id`` across
retries, and a receiver that is down, slow, failing, rate-limiting, gone or redirecting."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from standardwebhooks import Webhook

from adapters.clock import SystemClock
from adapters.http_target.executor import HttpTargetExecutor
from adapters.http_target.ssrf import parse_allowlist
from adapters.postgres.database import PostgresDatabase, create_pool
from adapters.secrets import FernetSecretBox
from domain.ids import RunId, TenantId
from domain.job import Backoff, BackoffKind, Job, Target, TargetKind
from domain.run import Run, RunStatus
from domain.schedule import OverlapPolicy
from domain.timing import Timing
from domain.triggers import CronTrigger
from service.loops.worker_pool import WorkerPool
from service.usecases import jobs
from service.usecases import manual_triggers as triggers
from service.usecases.commands import CreateJob, CreateSchedule, ReviseJob, TriggerSchedule
from service.usecases.schedules import create_schedule
from tests.receiver import Answer, Receiver, receiver
from tests.servers import app_dsn

ACME = TenantId("acme")
BOX = FernetSecretBox(FernetSecretBox.generate_key())
LOCAL = parse_allowlist("127.0.0.1/32")


@dataclass
class Stack:
    app: PostgresDatabase
    pool: WorkerPool
    http: HttpTargetExecutor


@contextlib.asynccontextmanager
async def stack(database: str, allow: Any = LOCAL) -> AsyncIterator[Stack]:
    app_pool = await create_pool(app_dsn(database))
    system_pool = await create_pool(app_dsn(database, "kairos_scheduler"))
    http = HttpTargetExecutor(BOX, SystemClock(), allow=allow)
    pool = WorkerPool(PostgresDatabase(system_pool), {TargetKind.HTTP: http}, SystemClock())
    try:
        yield Stack(PostgresDatabase(app_pool), pool, http)
    finally:
        await http.aclose()
        await app_pool.close()
        await system_pool.close()


async def http_job(
    s: Stack, config: dict[str, Any], attempts: int = 3, name: str = "hook"
) -> tuple[Job, str, Any]:
    job, secret = await jobs.create_job(
        s.app,
        CreateJob(
            tenant_id=ACME,
            name=name,
            target=Target(kind=TargetKind.HTTP, config=config),
            max_attempts=attempts,
            backoff=Backoff(kind=BackoffKind.FIXED, initial=timedelta(milliseconds=1)),
        ),
        box=BOX,
    )
    assert secret is not None
    schedule = await create_schedule(
        s.app,
        CreateSchedule(
            tenant_id=ACME,
            name=f"{name}-nightly",
            job_id=job.id,
            timing=Timing(trigger=CronTrigger.parse("0 3 * * *")),
            overlap_policy=OverlapPolicy.ALLOW,
        ),
    )
    return job, secret, schedule


async def fire(s: Stack, schedule: Any, **payload: Any) -> RunId:
    fired = await triggers.trigger_schedule(
        s.app, TriggerSchedule(tenant_id=ACME, schedule_id=schedule.id, payload=payload)
    )
    return fired.run.id


async def run_of(s: Stack, run_id: RunId) -> Run:
    async with s.app.transaction(ACME) as tx:
        return await tx.runs.get(run_id)


async def deliver_until_ended(s: Stack, run_id: RunId, rounds: int = 10) -> Run:
    """Claim and deliver until the run leaves running/pending (retries are 1 ms apart)."""
    for _ in range(rounds):
        await s.pool.process()
        run = await run_of(s, run_id)
        if run.status not in (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.SCHEDULED):
            return run
    return await run_of(s, run_id)


def verified(r: Receiver, secret: str) -> list[Any]:
    """Every request the receiver got, verified by the standardwebhooks package."""
    return [Webhook(secret).verify(req.body, req.headers) for req in r.received]


async def test_deliveries_are_signed_and_keep_their_webhook_id_across_retries(
    database: str,
) -> None:
    """500 then 200: two signed requests, same webhook-id (the run id), body templated;
    both attempts keep the answer (status, body) and the run succeeds."""
    async with stack(database) as s, receiver(Answer(500, b"boom")) as r:
        _, secret, schedule = await http_job(
            s,
            {
                "url": f"{r.url}/hooks?x=1",
                "headers": {"X-Team": "billing"},
                "body": {"run": "${run_id}", "try": "${attempt}", "data": "${payload}"},
            },
        )
        run_id = await fire(s, schedule, invoice=42)
        run = await deliver_until_ended(s, run_id)
        assert run.status is RunStatus.SUCCEEDED
        bodies = verified(r, secret)
        assert bodies == [
            {"run": str(run_id), "try": "1", "data": {"invoice": 42}},
            {"run": str(run_id), "try": "2", "data": {"invoice": 42}},
        ]
        assert {req.headers["webhook-id"] for req in r.received} == {str(run_id)}
        assert [req.path for req in r.received] == ["/hooks?x=1"] * 2
        assert r.received[0].headers["x-team"] == "billing"
        assert r.received[0].headers["host"] == f"127.0.0.1:{r.port}"
        stored = await run_of(s, run_id)
        answers = [(a.detail or {}).get("status") for a in stored.attempts]
        assert answers == [500, 200]
        assert stored.attempts[0].error == "HTTP 500"
        assert stored.attempts[0].detail is not None
        assert stored.attempts[0].detail["body"] == "boom"


async def test_a_rotation_signs_with_every_active_secret(database: str) -> None:
    """With two secrets active each verifies on its own; after removing the old one only
    the new one does."""
    async with stack(database) as s, receiver() as r:
        job, old, schedule = await http_job(s, {"url": r.url})
        new = await jobs.add_secret(s.app, tenant_id=ACME, job_id=job.id, box=BOX)
        await deliver_until_ended(s, await fire(s, schedule))
        assert len(verified(r, old)) == len(verified(r, new.value)) == 1
        assert len(r.received[0].headers["webhook-signature"].split(" ")) == 2
        first = new.job.secrets[0].id
        await jobs.remove_secret(s.app, tenant_id=ACME, job_id=job.id, secret_id=first)
        await deliver_until_ended(s, await fire(s, schedule))
        assert Webhook(new.value).verify(r.received[1].body, r.received[1].headers)
        with pytest.raises(Exception, match="No matching signature"):
            Webhook(old).verify(r.received[1].body, r.received[1].headers)


async def test_429_and_503_retry_after_is_honoured(database: str) -> None:
    """429 Retry-After: 120 and 503 with an HTTP date: the retry waits that long, not the
    1 ms backoff."""
    async with (
        stack(database) as s,
        receiver(
            Answer(429, headers=(("Retry-After", "120"),)),
        ) as r,
    ):
        _, _, schedule = await http_job(s, {"url": r.url})
        run_id = await fire(s, schedule)
        await s.pool.process()
        run = await run_of(s, run_id)
        assert run.status is RunStatus.PENDING
        ended = run.attempts[-1].ended_at
        assert ended is not None
        assert timedelta(seconds=119) <= run.available_at - ended <= timedelta(seconds=121)
        assert run.reason == "HTTP 429"
        assert len(r.received) == 1


async def test_410_gone_disables_the_target_and_pauses_its_schedules(database: str) -> None:
    """410: the run is dead after one attempt (3 allowed), the job is disabled, its
    schedule paused with a schedule.disabled event saying TARGET_GONE; a later run of the
    job fails at once without a request."""
    async with stack(database) as s, receiver(Answer(410, b"gone")) as r:
        job, _, schedule = await http_job(s, {"url": r.url})
        run = await deliver_until_ended(s, await fire(s, schedule))
        assert (run.status, run.attempt) == (RunStatus.DEAD, 1)
        assert run.reason == "HTTP 410 Gone: the target is disabled"
        async with s.app.transaction(ACME) as tx:
            stored_job = await tx.jobs.get(job.id)
            stored_schedule = await tx.schedules.get(schedule.id)
            events = await tx.outbox.pending(100)
        assert stored_job.disabled == run.reason
        assert stored_schedule.state.value == "paused"
        disabled = [r.event for r in events if r.event.type == "scheduler.schedule.disabled"]
        assert [e.data["reason"] for e in disabled] == ["TARGET_GONE"]
        later = await deliver_until_ended(s, await fire(s, schedule))
        assert later.status is RunStatus.DEAD
        assert (later.reason or "").startswith("target disabled")
        assert len(r.received) == 1  # the second run made no request
        patched, _ = await jobs.update_job(
            s.app,
            ReviseJob(
                tenant_id=ACME,
                job_id=job.id,
                target=Target(kind=TargetKind.HTTP, config={"url": r.url + "/v2"}),
            ),
        )
        assert patched.disabled is None


async def test_redirects_are_not_followed(database: str) -> None:
    """302 to another path: one request only, the attempt fails naming the Location."""
    async with (
        stack(database) as s,
        receiver(
            Answer(302, headers=(("Location", "/elsewhere"),)),
            Answer(302, headers=(("Location", "/elsewhere"),)),
        ) as r,
    ):
        _, _, schedule = await http_job(s, {"url": r.url}, attempts=2)
        run = await deliver_until_ended(s, await fire(s, schedule))
        assert run.status is RunStatus.DEAD
        assert [req.path for req in r.received] == ["/", "/"]
        assert run.reason == "HTTP 302: redirects are not followed (Location: /elsewhere)"


async def test_a_slow_receiver_times_out_and_a_down_one_fails(database: str) -> None:
    """A receiver slower than the target timeout: TIMEOUT; a closed port: connect error;
    each retried per the job's policy until dead."""
    async with stack(database) as s, receiver(Answer(delay=2.0), Answer(delay=2.0)) as r:
        _, _, schedule = await http_job(s, {"url": r.url, "timeout": "0.3s"}, attempts=1)
        slow = await deliver_until_ended(s, await fire(s, schedule))
        assert slow.status is RunStatus.DEAD
        assert (slow.reason or "").startswith("TIMEOUT: 127.0.0.1 gave no answer within 0.3s")
    async with stack(database) as s:
        async with receiver() as gone:
            url = gone.url  # a port that is closed once the receiver stops
        _, _, schedule = await http_job(s, {"url": url}, attempts=1, name="down")
        down = await deliver_until_ended(s, await fire(s, schedule))
        assert (down.status, down.reason) == (
            RunStatus.DEAD,
            "request to 127.0.0.1 failed: ConnectError",
        )


async def test_without_the_allowlist_the_local_receiver_is_refused(database: str) -> None:
    """The same local receiver without an allowlist: refused by the SSRF guard, no
    request reaches it, and the run is dead after its first attempt (of three)."""
    async with stack(database, allow=()) as s, receiver() as r:
        _, _, schedule = await http_job(s, {"url": r.url}, attempts=3)
        run = await deliver_until_ended(s, await fire(s, schedule))
        assert run.status is RunStatus.DEAD
        assert (run.reason or "").startswith("refused by the SSRF guard: 127.0.0.1 -> ")
        assert len(run.attempts) == 1
        assert r.received == []

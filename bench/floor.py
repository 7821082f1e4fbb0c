"""The contract floor: what Kairos' per-fire contract costs on these servers with no
Kairos code at all.

Every fire of the burst still does what docs/semantics.md requires of it, as set-based SQL and
raw NATS publishes, with no domain objects, no use cases and no per-row Python:

- materialise: lock due schedules (SKIP LOCKED), complete them, insert their runs,
  and a ``schedule.completed`` event into the outbox;
- claim: lease pending runs (SKIP LOCKED, priority order, a fresh fencing token each),
  open attempt 1, a ``run.started`` event;
- deliver: publish each run's payload to its tenant subject (``Nats-Msg-Id`` = run
  id), one flush per batch, as the EVENT target does;
- record: fenced ``succeeded``, attempt closed, a ``run.succeeded`` event;
- relay: read the outbox in order, publish CloudEvents built in SQL, wait for the
  stream's acks, delete.

Pipelined as generously as the servers allow: three claim/deliver/record loops and
two relay loops (outbox partitioned by aggregate, so each aggregate's events keep
their order). An upper bound for any implementation of the same contract on the same
machine; ``bench/burst.py`` prints it next to Kairos and the bare baseline.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime

import asyncpg
import nats

MATERIALISE = """
WITH due AS (
    SELECT tenant_id, id, job_id, next_fire_at FROM schedules
    WHERE state = 'enabled' AND next_fire_at <= now()
    ORDER BY next_fire_at LIMIT $1 FOR UPDATE SKIP LOCKED),
done AS (
    UPDATE schedules s SET state = 'completed', next_fire_at = NULL,
        fire_count = s.fire_count + 1, version = s.version + 1, updated_at = now()
    FROM due WHERE s.tenant_id = due.tenant_id AND s.id = due.id
    RETURNING s.tenant_id, s.id, s.job_id, s.version, due.next_fire_at AS nominal),
runs AS (
    INSERT INTO runs (tenant_id, id, schedule_id, job_id, nominal_at, dispatch_at, status,
                      attempt, max_attempts, priority, available_at, capability, payload,
                      created_at, updated_at)
    SELECT tenant_id, gen_random_uuid(), id, job_id, nominal, nominal, 'pending', 0, 3, 2,
           nominal, 'event', '{}'::jsonb, now(), now()
    FROM done ON CONFLICT DO NOTHING RETURNING 1)
INSERT INTO outbox (tenant_id, event_id, aggregate_id, type, subject, payload)
SELECT tenant_id, gen_random_uuid(), id, 'scheduler.schedule.completed',
       'scheduler.schedule.completed.' || tenant_id,
       jsonb_build_object('id', id, 'job_id', job_id, 'state', 'completed',
                          'next_fire_at', NULL, 'version', version)
FROM done
"""

CLAIM = """
WITH picked AS (
    SELECT tenant_id, id FROM runs
    WHERE status IN ('pending', 'scheduled') AND capability = 'event' AND available_at <= now()
    ORDER BY priority DESC, available_at LIMIT $1 FOR UPDATE SKIP LOCKED),
leased AS (
    UPDATE runs r SET status = 'running', attempt = 1,
        lease_until = now() + interval '30 seconds', timeout_at = now() + interval '5 minutes',
        lease_token = nextval('run_lease_token_seq'), worker_id = $2, updated_at = now()
    FROM picked WHERE r.tenant_id = picked.tenant_id AND r.id = picked.id
    RETURNING r.tenant_id, r.id, r.schedule_id, r.job_id, r.nominal_at, r.lease_token,
              r.payload::text AS payload),
attempt AS (
    INSERT INTO run_attempts (tenant_id, run_id, number, worker_id, started_at)
    SELECT tenant_id, id, 1, $2, now() FROM leased),
started AS (
    INSERT INTO outbox (tenant_id, event_id, aggregate_id, type, subject, payload)
    SELECT tenant_id, gen_random_uuid(), id, 'scheduler.run.started',
           'scheduler.run.started.' || tenant_id,
           jsonb_build_object('id', id, 'schedule_id', schedule_id, 'job_id', job_id,
                              'nominal_at', nominal_at, 'attempt', 1, 'worker_id', $2::uuid)
    FROM leased)
SELECT id, lease_token, payload FROM leased
"""

RECORD = """
WITH finished AS (
    UPDATE runs r SET status = 'succeeded', lease_until = NULL, timeout_at = NULL,
        updated_at = now()
    FROM unnest($1::uuid[], $2::bigint[]) AS x(id, token)
    WHERE r.tenant_id = $3 AND r.id = x.id AND r.lease_token <= x.token
    RETURNING r.tenant_id, r.id, r.schedule_id, r.job_id, r.nominal_at),
attempt AS (
    UPDATE run_attempts a SET ended_at = now(), outcome = 'succeeded'
    FROM finished f WHERE a.tenant_id = f.tenant_id AND a.run_id = f.id AND a.number = 1)
INSERT INTO outbox (tenant_id, event_id, aggregate_id, type, subject, payload)
SELECT tenant_id, gen_random_uuid(), id, 'scheduler.run.succeeded',
       'scheduler.run.succeeded.' || tenant_id,
       jsonb_build_object('id', id, 'schedule_id', schedule_id, 'job_id', job_id,
                          'nominal_at', nominal_at, 'attempt', 1, 'status', 'succeeded')
FROM finished
"""

PENDING_EVENTS = """
SELECT seq, event_id::text AS event_id, subject,
       convert_to(jsonb_build_object(
           'specversion', '1.0', 'id', event_id, 'source', 'kairos', 'type', type,
           'time', created_at, 'subject', aggregate_id, 'datacontenttype', 'application/json',
           'tenantid', tenant_id, 'data', payload)::text, 'UTF8') AS body
FROM outbox WHERE (hashtext(aggregate_id::text) & 1) = $2
ORDER BY seq LIMIT $1
"""

CLAIM_LOOPS = 3
RELAY_LOOPS = 2
BATCH = 1000


class _Pending:
    __slots__ = ("acked", "left")

    def __init__(self, left: int) -> None:
        self.left = left
        self.acked = asyncio.Event()


class _Acks:
    """One standing subscription tallies each published batch's stream acks."""

    def __init__(self, nc: nats.aio.client.Client) -> None:
        self._nc = nc
        self._prefix = nc.new_inbox()
        self._batches: dict[int, _Pending] = {}
        self._next = 0

    async def start(self) -> None:
        await self._nc.subscribe(f"{self._prefix}.>", cb=self._on_ack)

    async def _on_ack(self, msg: nats.aio.msg.Msg) -> None:
        if b'"seq"' not in msg.data:
            raise RuntimeError(f"the stream refused a message: {msg.data!r}")
        pending = self._batches[int(msg.subject.rsplit(".", 2)[1])]
        pending.left -= 1
        if pending.left == 0:
            pending.acked.set()

    async def publish(self, messages: list[tuple[str, bytes, str]]) -> None:
        self._next += 1
        number = self._next
        pending = self._batches[number] = _Pending(len(messages))
        for i, (subject, body, msg_id) in enumerate(messages):
            await self._nc.publish(
                subject, body, reply=f"{self._prefix}.{number}.{i}", headers={"Nats-Msg-Id": msg_id}
            )
        await self._nc.flush()
        await asyncio.wait_for(pending.acked.wait(), 30)
        del self._batches[number]


async def run_floor(
    owner_dsn: str, nc: nats.aio.client.Client, n: int, due: datetime, tenant: str
) -> float:
    """Seconds from ``due`` until all ``n`` seeded one-shot fires succeeded and their
    3 n events are in the stream."""
    # Custom plans: a generic plan cached while the queue was empty scans it badly
    # once it is full (measured: a claim of 1,000 went from ~60 ms to ~500 ms).
    settings = {"plan_cache_mode": "force_custom_plan"}
    conns = [
        await asyncpg.connect(owner_dsn, server_settings=settings)
        for _ in range(1 + CLAIM_LOOPS + RELAY_LOOPS)
    ]
    acks = _Acks(nc)
    await acks.start()
    worker = uuid.uuid4()
    progress = {"materialised": 0, "recorded": 0, "relayed": 0}

    async def materialise(conn: asyncpg.Connection) -> None:
        while progress["materialised"] < n:
            async with conn.transaction():
                status = await conn.execute(MATERIALISE, BATCH)
            progress["materialised"] += int(status.split()[-1])

    async def work(conn: asyncpg.Connection) -> None:
        while progress["recorded"] < n:
            async with conn.transaction():
                runs = await conn.fetch(CLAIM, BATCH, worker)
            if not runs:
                await asyncio.sleep(0.005)
                continue
            for r in runs:  # the EVENT target: core publish, delivered once flushed
                await nc.publish(
                    f"t.{tenant}.bench.fire",
                    r["payload"].encode(),
                    headers={"Nats-Msg-Id": str(r["id"]), "Kairos-Run-Id": str(r["id"])},
                )
            await nc.flush()
            async with conn.transaction():
                await conn.execute(
                    RECORD, [r["id"] for r in runs], [r["lease_token"] for r in runs], tenant
                )
            progress["recorded"] += len(runs)

    async def relay(conn: asyncpg.Connection, part: int) -> None:
        while progress["relayed"] < 3 * n:
            events = await conn.fetch(PENDING_EVENTS, 2 * BATCH, part)
            if not events:
                await asyncio.sleep(0.005)
                continue
            await acks.publish([(e["subject"], e["body"], e["event_id"]) for e in events])
            await conn.execute(
                "DELETE FROM outbox WHERE seq = ANY($1::bigint[])", [e["seq"] for e in events]
            )
            progress["relayed"] += len(events)

    try:
        await asyncio.sleep(max(0.0, due.timestamp() - time.time()))
        await asyncio.gather(
            materialise(conns[0]),
            *(work(conns[1 + i]) for i in range(CLAIM_LOOPS)),
            *(relay(conns[1 + CLAIM_LOOPS + p], p) for p in range(RELAY_LOOPS)),
        )
        return time.time() - due.timestamp()
    finally:
        for conn in conns:
            await conn.close()

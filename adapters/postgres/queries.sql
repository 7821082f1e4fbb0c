-- Named SQL blocks, loaded once by adapters/postgres/queries.py.
-- Every statement runs inside a transaction whose tenant is set with
-- set_config('kairos.tenant_id', ...): row-level security scopes it to that tenant.

-- name: set_tenant
SELECT set_config('kairos.tenant_id', $1, true);

-- name: session_role
SELECT session_user, pg_has_role(session_user, 'kairos_system', 'MEMBER');

-- name: insert_job
-- target_kind and max_concurrency: the document's fields that SQL filters on, as columns.
INSERT INTO jobs (tenant_id, id, name, spec, version, created_at, updated_at, target_kind,
                  max_concurrency)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9);

-- name: update_job
UPDATE jobs SET name = $3, spec = $4, version = $5, updated_at = $6, target_kind = $8,
       max_concurrency = $9
WHERE tenant_id = $1 AND id = $2 AND version = $7;

-- name: get_job
SELECT tenant_id, id, name, spec, version, created_at, updated_at
FROM jobs WHERE id = $1 AND deleted_at IS NULL;

-- name: job_version
SELECT version FROM jobs WHERE id = $1 AND deleted_at IS NULL;

-- name: delete_job
-- The row stays for the deleted schedules that still name it; its secrets go.
UPDATE jobs SET deleted_at = $2, updated_at = $2, version = version + 1,
       spec = spec - 'secrets'
WHERE id = $1 AND deleted_at IS NULL;

-- name: schedules_using_job
SELECT name FROM schedules WHERE job_id = $1 AND state <> 'deleted' ORDER BY name;

-- name: insert_schedule
-- trigger_type: the document's field that SQL filters on, as a column.
INSERT INTO schedules (tenant_id, id, name, job_id, calendar_id, spec, state, next_fire_at,
                       fire_count, system, version, trigger_type, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14);

-- name: update_schedule
UPDATE schedules SET name = $3, job_id = $4, calendar_id = $5, spec = $6, state = $7,
       next_fire_at = $8, fire_count = $9, system = $10, version = $11, trigger_type = $12,
       updated_at = $13
WHERE tenant_id = $1 AND id = $2 AND version = $14;

-- name: get_schedule
SELECT tenant_id, id, name, job_id, spec, state, next_fire_at, fire_count, system, version,
       created_at, updated_at
FROM schedules WHERE id = $1;

-- name: count_live_schedules
SELECT count(*) FROM schedules WHERE state <> 'deleted' AND NOT system;

-- name: schedules_of_job
SELECT tenant_id, id, name, job_id, spec, state, next_fire_at, fire_count, system, version,
       created_at, updated_at
FROM schedules WHERE job_id = $1 AND state = 'enabled'
FOR UPDATE;

-- name: schedule_by_name
SELECT tenant_id, id, name, job_id, spec, state, next_fire_at, fire_count, system, version,
       created_at, updated_at
FROM schedules WHERE name = $1 AND state <> 'deleted';

-- name: schedule_version
SELECT version FROM schedules WHERE id = $1;

-- name: append_outbox
-- One statement per batch (not one per event): a burst's events cost one round trip and
-- one NOTIFY. unnest keeps array order, so seq follows the events' order.
-- The event is stored once, as its CloudEvent (encoded by Kairos); ``payload`` is left
-- empty ('{}'), it is only read for rows older than the ``cloudevent`` column. Each
-- event's partition derives from $8 (domain.partitions.event_key: a run's events go
-- with its schedule).
INSERT INTO outbox (tenant_id, event_id, aggregate_id, type, subject, payload, created_at,
                    cloudevent, partition)
SELECT t, e, a, ty, s, '{}'::jsonb, c, ce,
       kairos_partition(k, (SELECT partitions FROM kairos_settings))
FROM unnest($1::text[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::bytea[],
            $7::timestamptz[], $8::uuid[]) WITH ORDINALITY AS u(t, e, a, ty, s, ce, c, k, n)
ORDER BY n
ON CONFLICT (event_id) DO NOTHING;

-- name: set_system
SELECT set_config('kairos.system', 'on', true);

-- name: db_now
SELECT now();

-- name: insert_runs
INSERT INTO runs (tenant_id, id, schedule_id, job_id, nominal_at, dispatch_at, status, reason,
                  attempt, max_attempts, priority, available_at, capability, payload,
                  calendar_id, calendar_version, created_at, updated_at, missed_count,
                  buffered, origin, backfill_id, traceparent, schedule_name, job_name,
                  started_at, ended_at, started_by)
SELECT t, i, s, j, n, d, st, rs, a, ma, p, av, c, pl::jsonb, ci, cv, ca, ua, mc, b, o, bf, tp,
       sn, jn, sa, ea, sb
FROM unnest($1::text[], $2::uuid[], $3::uuid[], $4::uuid[], $5::timestamptz[],
            $6::timestamptz[], $7::text[], $8::text[], $9::int[], $10::int[], $11::smallint[],
            $12::timestamptz[], $13::text[], $14::text[], $15::uuid[], $16::int[],
            $17::timestamptz[], $18::timestamptz[], $19::int[], $20::bool[], $21::text[],
            $22::uuid[], $23::text[], $24::text[], $25::text[], $26::timestamptz[],
            $27::timestamptz[], $28::uuid[])
     AS u(t, i, s, j, n, d, st, rs, a, ma, p, av, c, pl, ci, cv, ca, ua, mc, b, o, bf, tp, sn,
          jn, sa, ea, sb)
-- The run key, or the id (a manual trigger's idempotency key names its run).
ON CONFLICT DO NOTHING
RETURNING id;

-- name: get_run
SELECT * FROM runs WHERE id = $1;

-- name: get_run_for_update
SELECT * FROM runs WHERE id = $1 FOR UPDATE;

-- name: run_attempts
SELECT * FROM run_attempts WHERE run_id = $1 ORDER BY number;

-- name: lock_claimable
-- Volatile nextval() is evaluated after ORDER BY/LIMIT: one token per returned row.
-- Walks runs_due_idx in claim order and stops at the limit (no sort of every due run).
-- A buffered run waits until every earlier run of its schedule has ended (overlap).
-- Runs of a job already at its max_concurrency are left out, so they do not fill the
-- batch; the exact count is re-checked under a per-job lock (``running_counts``).
-- So are runs of a tenant with $3 runs running (NULL: no cap), re-checked under a
-- per-tenant lock (``running_by_tenant``).
WITH full_tenants AS (
    SELECT x.tenant_id FROM runs x
    WHERE $3::int IS NOT NULL AND x.status = 'running'
    GROUP BY x.tenant_id HAVING count(*) >= $3::int
)
SELECT r.*, nextval('run_lease_token_seq') AS fresh_token
FROM runs r
WHERE r.status IN ('pending', 'scheduled')
  AND (r.capability = 'SYSTEM' OR r.tenant_id NOT IN (SELECT tenant_id FROM full_tenants))
  AND r.available_at <= now()
  AND r.capability = ANY($1::text[])
  AND (NOT r.buffered OR NOT EXISTS (
        SELECT 1 FROM runs e
        WHERE e.tenant_id = r.tenant_id AND e.schedule_id = r.schedule_id
          AND e.nominal_at < r.nominal_at
          AND e.status IN ('waiting', 'scheduled', 'pending', 'running')))
  AND NOT EXISTS (
        SELECT 1 FROM jobs j
        WHERE j.tenant_id = r.tenant_id AND j.id = r.job_id
          AND j.max_concurrency IS NOT NULL
          AND (SELECT count(*) FROM runs x
               WHERE x.tenant_id = r.tenant_id AND x.job_id = r.job_id
                 AND x.status = 'running') >= j.max_concurrency)
ORDER BY r.priority DESC, r.available_at
LIMIT $2
FOR UPDATE SKIP LOCKED;

-- name: active_runs
-- The schedules' runs that have not ended, oldest first (overlap decisions).
SELECT r.*
FROM runs r
JOIN unnest($1::text[], $2::uuid[]) AS k(tenant_id, schedule_id)
  ON r.tenant_id = k.tenant_id AND r.schedule_id = k.schedule_id
WHERE r.status IN ('waiting', 'scheduled', 'pending', 'running')
ORDER BY r.nominal_at;

-- name: lock_jobs
-- Serialises admissions against a job's max_concurrency (held until commit), in one
-- order so two claimers never wait on each other crosswise.
SELECT pg_advisory_xact_lock(hashtextextended(t || '/' || j::text, 7))
FROM unnest($1::text[], $2::uuid[]) AS k(t, j)
ORDER BY t, j;

-- name: lock_tenants_running
-- Serialises admissions against the tenants' cap on running runs (held until commit);
-- taken before any job's lock, in one order.
SELECT pg_advisory_xact_lock(hashtextextended('running/' || t, 11))
FROM unnest($1::text[]) AS k(t)
ORDER BY t;

-- name: running_by_tenant
SELECT r.tenant_id, count(*) AS running
FROM runs r
WHERE r.tenant_id = ANY($1::text[]) AND r.status = 'running'
GROUP BY r.tenant_id;

-- name: running_counts
SELECT r.job_id, count(*) AS running
FROM runs r
JOIN unnest($1::text[], $2::uuid[]) AS k(tenant_id, job_id)
  ON r.tenant_id = k.tenant_id AND r.job_id = k.job_id
WHERE r.status = 'running'
GROUP BY r.job_id;

-- name: lock_expired
SELECT r.*
FROM runs r
WHERE r.status = 'running' AND (r.lease_until <= now() OR r.timeout_at <= now())
  AND r.partition = ANY($2::int[])
ORDER BY r.lease_until
LIMIT $1
FOR UPDATE SKIP LOCKED;

-- name: update_runs
-- Fenced: a row whose stored token is newer than the written one is not touched.
UPDATE runs r
SET status = u.status, reason = u.reason, attempt = u.attempt, available_at = u.available_at,
    lease_until = u.lease_until, timeout_at = u.timeout_at, lease_token = u.lease_token,
    worker_id = u.worker_id, updated_at = u.updated_at, max_attempts = u.max_attempts,
    cancel_requested = u.cancel_requested, lease_secret = u.lease_secret
FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::int[], $6::timestamptz[],
            $7::timestamptz[], $8::timestamptz[], $9::bigint[], $10::uuid[], $11::timestamptz[],
            $12::int[], $13::text[], $14::text[])
     AS u(tenant_id, id, status, reason, attempt, available_at, lease_until, timeout_at,
          lease_token, worker_id, updated_at, max_attempts, cancel_requested, lease_secret)
WHERE r.tenant_id = u.tenant_id AND r.id = u.id AND r.lease_token <= u.lease_token
RETURNING r.id;

-- name: run_tokens
SELECT id, lease_token FROM runs WHERE id = ANY($1::uuid[]);

-- name: upsert_attempts
INSERT INTO run_attempts (tenant_id, run_id, number, worker_id, started_at, ended_at, outcome,
                          error, detail)
SELECT t, r, n, w, s, e, o, er, d::jsonb
FROM unnest($1::text[], $2::uuid[], $3::int[], $4::uuid[], $5::timestamptz[],
            $6::timestamptz[], $7::text[], $8::text[], $9::text[])
     AS u(t, r, n, w, s, e, o, er, d)
ON CONFLICT (tenant_id, run_id, number)
DO UPDATE SET ended_at = EXCLUDED.ended_at, outcome = EXCLUDED.outcome, error = EXCLUDED.error,
              detail = EXCLUDED.detail;

-- name: schedules_due
-- In time order, locked (SKIP LOCKED), with a plan that does not depend on statistics
-- (migration 0028). spec as text: the adapter parses each distinct timing document once
-- (a cache keyed on it).
SELECT * FROM kairos_due_schedules($1, $2, $3::int[]);

-- name: leader_read
-- Leader lease. Every time is clock_timestamp() (the statement's instant), never now()
-- (the transaction's start): a statement that waited must not judge a lease by the past.
SELECT holder, epoch, expires_at > clock_timestamp() AS live
FROM leader_lease WHERE name = $1;

-- name: leader_renew
-- Only expires_at changes (the key, name and epoch, stays intact), so this passes a
-- pass's FOR KEY SHARE fence instead of queueing behind it.
UPDATE leader_lease SET expires_at = clock_timestamp() + $4::interval
WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at > clock_timestamp()
RETURNING epoch;

-- name: leader_take
-- Takeover of the epoch the caller read: once it has expired, or at once when the
-- caller knows its holder is gone ($5). Changing the epoch (a key column) waits for
-- fenced passes of the old epoch to commit, then re-checks this WHERE.
UPDATE leader_lease
SET holder = $2, epoch = epoch + 1, expires_at = clock_timestamp() + $4::interval
WHERE name = $1 AND epoch = $3 AND (expires_at <= clock_timestamp() OR $5::bool)
RETURNING epoch;

-- name: leader_first
INSERT INTO leader_lease (name, holder, epoch, expires_at)
VALUES ($1, $2, 1, clock_timestamp() + $3::interval)
ON CONFLICT (name) DO NOTHING
RETURNING epoch;

-- name: leader_release
UPDATE leader_lease SET expires_at = clock_timestamp()
WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at > clock_timestamp();

-- name: leader_current
SELECT holder, epoch FROM leader_lease WHERE name = $1 AND expires_at > clock_timestamp();

-- name: leader_check
SELECT 1 FROM leader_lease
WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at > clock_timestamp();

-- name: leader_fence
-- A pass's last statement. FOR KEY SHARE until commit: a takeover (epoch change) waits
-- for this commit; a renewal does not. If a takeover got here first, the lock waits for
-- it and the re-checked row no longer matches: NotLeader.
SELECT 1 FROM leader_lease
WHERE name = $1 AND holder = $2 AND epoch = $3 AND expires_at > clock_timestamp()
FOR KEY SHARE;

-- name: leader_check_all
-- How many of the leases ($1 names, $3 epochs) $2 leads now.
SELECT count(*) FROM leader_lease l
JOIN unnest($1::text[], $3::bigint[]) AS w(name, epoch) ON w.name = l.name AND w.epoch = l.epoch
WHERE l.holder = $2 AND l.expires_at > clock_timestamp();

-- name: leader_fence_all
-- leader_fence for a set of leases, locked in name order: two passes fencing
-- overlapping sets lock them in the same order.
SELECT count(*) FROM (
    SELECT 1 FROM leader_lease l
    JOIN unnest($1::text[], $3::bigint[]) AS w(name, epoch)
        ON w.name = l.name AND w.epoch = l.epoch
    WHERE l.holder = $2 AND l.expires_at > clock_timestamp()
    ORDER BY l.name
    FOR KEY SHARE OF l
) fenced;

-- name: leader_renew_all
UPDATE leader_lease l SET expires_at = clock_timestamp() + $4::interval
FROM unnest($1::text[], $3::bigint[]) AS w(name, epoch)
WHERE w.name = l.name AND w.epoch = l.epoch AND l.holder = $2
  AND l.expires_at > clock_timestamp()
RETURNING l.name;

-- name: leader_all
SELECT name, holder, epoch, expires_at > clock_timestamp() AS live, expires_at
FROM leader_lease WHERE starts_with(name, $1) ORDER BY name;

-- name: partition_count
SELECT partitions FROM kairos_settings;

-- name: replica_beat
INSERT INTO scheduler_replicas (name, started_at, seen_at, expires_at)
VALUES ($1, clock_timestamp(), clock_timestamp(), clock_timestamp() + $2::interval)
ON CONFLICT (name) DO UPDATE
SET seen_at = excluded.seen_at, expires_at = excluded.expires_at,
    started_at = CASE WHEN scheduler_replicas.expires_at > clock_timestamp()
                      THEN scheduler_replicas.started_at ELSE excluded.started_at END;

-- name: replica_leave
DELETE FROM scheduler_replicas WHERE name = $1;

-- name: replica_forget
-- Rows long gone (a day past expiry) are forgotten, so the table stays small.
DELETE FROM scheduler_replicas WHERE expires_at < clock_timestamp() - interval '1 day';

-- name: replica_members
SELECT name, started_at, seen_at, expires_at > clock_timestamp() AS live
FROM scheduler_replicas ORDER BY name;

-- name: presence_hold
-- Session-level advisory locks: held until unlocked or until the session ends.
SELECT pg_try_advisory_lock(hashtextextended('kairos.leader/' || $1 || '/' || $2::bigint::text, 0));

-- name: presence_drop
SELECT pg_advisory_unlock(hashtextextended('kairos.leader/' || $1 || '/' || $2::bigint::text, 0));

-- name: outbox_pending
-- FOR UPDATE (not SKIP LOCKED): a second relay waits rather than overtake the first,
-- which keeps events in commit order.
-- One relay per partition set: $2 NULL reads every partition (health, metrics).
SELECT seq, tenant_id, event_id, aggregate_id, type, payload, cloudevent
FROM outbox WHERE ($2::int[] IS NULL OR partition = ANY($2::int[])) ORDER BY seq LIMIT $1
FOR UPDATE;

-- name: outbox_pending_wire
-- The relay's read: each event as the stream stores it (rows older than the column: their
-- payload, encoded by the adapter).
SELECT seq, event_id, type, subject, cloudevent,
       CASE WHEN cloudevent IS NULL THEN tenant_id END AS tenant_id,
       CASE WHEN cloudevent IS NULL THEN aggregate_id END AS aggregate_id,
       CASE WHEN cloudevent IS NULL THEN payload END AS payload
FROM outbox WHERE ($2::int[] IS NULL OR partition = ANY($2::int[])) ORDER BY seq LIMIT $1
FOR UPDATE;

-- name: outbox_mark
-- Published events leave the outbox (the stream is their history).
DELETE FROM outbox WHERE seq = ANY($1::bigint[]);

-- name: next_due
SELECT min(next_fire_at) FROM schedules WHERE state = 'enabled' AND partition = ANY($1::int[]);

-- name: get_worker
SELECT * FROM workers WHERE id = $1;

-- name: get_worker_for_update
-- A worker's claims take turns: its free capacity is counted under this lock.
SELECT * FROM workers WHERE id = $1 FOR UPDATE;

-- name: save_worker
INSERT INTO workers (tenant_id, id, name, capabilities, capacity, version, state,
                     heartbeat_interval, registered_at, last_heartbeat_at, beats, labels)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb)
ON CONFLICT (tenant_id, id) DO UPDATE SET
    name = EXCLUDED.name, capabilities = EXCLUDED.capabilities,
    capacity = EXCLUDED.capacity, version = EXCLUDED.version, state = EXCLUDED.state,
    heartbeat_interval = EXCLUDED.heartbeat_interval,
    last_heartbeat_at = EXCLUDED.last_heartbeat_at, beats = EXCLUDED.beats,
    labels = EXCLUDED.labels;

-- name: list_workers
SELECT * FROM workers
WHERE ($1::timestamptz IS NULL OR (registered_at, id) > ($1, $2))
ORDER BY registered_at, id
LIMIT $3;

-- name: queue_depth
SELECT status, priority, count(*) AS runs FROM runs
WHERE status IN ('waiting', 'scheduled', 'pending', 'running')
GROUP BY status, priority;

-- name: outbox_count
SELECT count(*) FROM outbox;

-- name: held_by_worker
SELECT count(*) FROM runs WHERE status = 'running' AND worker_id = $1;

-- name: silent_workers
-- Same rule as Worker.silent: more than N heartbeat intervals without a beat.
SELECT * FROM workers
WHERE state <> 'offline' AND last_heartbeat_at + heartbeat_interval * $2 < $1
ORDER BY last_heartbeat_at
LIMIT $3
FOR UPDATE SKIP LOCKED;

-- name: job_by_name
SELECT tenant_id, id, name, spec, version, created_at, updated_at
FROM jobs WHERE name = $1 AND deleted_at IS NULL;

-- name: list_jobs
SELECT tenant_id, id, name, spec, version, created_at, updated_at
FROM jobs
WHERE deleted_at IS NULL AND ($1::timestamptz IS NULL OR (created_at, id) > ($1, $2::uuid))
ORDER BY created_at, id
LIMIT $3;

-- name: list_schedules
SELECT tenant_id, id, name, job_id, spec, state, next_fire_at, fire_count, system, version,
       created_at, updated_at
FROM schedules
WHERE state <> 'deleted'
  AND ($1::timestamptz IS NULL OR (created_at, id) > ($1, $2::uuid))
ORDER BY created_at, id
LIMIT $3;

-- name: search_schedules
-- The dashboard's list: $1 text in the name or the id ('' any), $2 state (NULL any),
-- $3 order (name, next, state, created), $4 descending, $5 limit, $6 offset.
SELECT tenant_id, id, name, job_id, spec, state, next_fire_at, fire_count, system, version,
       created_at, updated_at
FROM schedules
WHERE state <> 'deleted'
  AND ($2::text IS NULL OR state = $2)
  AND ($1::text = '' OR strpos(lower(name), lower($1)) > 0 OR id::text = lower($1))
ORDER BY
  CASE WHEN $3 = 'name' AND NOT $4 THEN lower(name) END ASC,
  CASE WHEN $3 = 'name' AND $4 THEN lower(name) END DESC,
  CASE WHEN $3 = 'next' AND NOT $4 THEN next_fire_at END ASC NULLS LAST,
  CASE WHEN $3 = 'next' AND $4 THEN next_fire_at END DESC NULLS LAST,
  CASE WHEN $3 = 'state' AND NOT $4 THEN state END ASC,
  CASE WHEN $3 = 'state' AND $4 THEN state END DESC,
  CASE WHEN $3 = 'state' THEN lower(name) END ASC,
  CASE WHEN $3 = 'created' AND NOT $4 THEN created_at END ASC,
  CASE WHEN $3 = 'created' AND $4 THEN created_at END DESC,
  CASE WHEN NOT $4 THEN id END ASC,
  CASE WHEN $4 THEN id END DESC
LIMIT $5 OFFSET $6;

-- name: count_search_schedules
SELECT count(*) FROM schedules
WHERE state <> 'deleted'
  AND ($2::text IS NULL OR state = $2)
  AND ($1::text = '' OR strpos(lower(name), lower($1)) > 0 OR id::text = lower($1));

-- name: list_runs
SELECT * FROM runs
WHERE ($1::uuid IS NULL OR schedule_id = $1)
  AND ($2::uuid IS NULL OR job_id = $2)
  AND (cardinality($3::text[]) = 0 OR status = ANY($3))
  AND ($4::timestamptz IS NULL OR nominal_at >= $4)
  AND ($5::timestamptz IS NULL OR nominal_at < $5)
  AND ($6::timestamptz IS NULL OR (nominal_at, id) < ($6, $7::uuid))
ORDER BY nominal_at DESC, id DESC
LIMIT $8;

-- name: get_runs
SELECT * FROM runs WHERE id = ANY($1::uuid[]) ORDER BY id;

-- name: get_runs_for_update
-- One lock order (by id) for every batch writer: no deadlock between them.
SELECT * FROM runs WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE;

-- name: current_attempts
-- Each run's current attempt (the one its lease is for).
SELECT a.* FROM run_attempts a JOIN runs r ON r.tenant_id = a.tenant_id AND r.id = a.run_id
WHERE r.id = ANY($1::uuid[]) AND a.number = r.attempt;

-- name: advance_schedules
UPDATE schedules s
SET state = u.state, next_fire_at = u.next_fire_at, fire_count = u.fire_count,
    version = u.version, updated_at = u.updated_at
FROM unnest($1::text[], $2::uuid[], $3::text[], $4::timestamptz[], $5::bigint[], $6::int[],
            $7::timestamptz[], $8::int[])
     AS u(tenant_id, id, state, next_fire_at, fire_count, version, updated_at, expected)
WHERE s.tenant_id = u.tenant_id AND s.id = u.id AND s.version = u.expected
RETURNING s.id;

-- name: latest_runs
-- Each schedule's run of its latest fire that has come: one probe per schedule of the
-- runs' (tenant_id, schedule_id, nominal_at) key, read backwards. The tenant is named
-- ($2, or each schedule's own): row-level security's own test does not reach the index.
SELECT r.*
FROM unnest($1::uuid[]) AS k(schedule_id)
JOIN schedules s ON s.id = k.schedule_id AND ($2::text IS NULL OR s.tenant_id = $2)
CROSS JOIN LATERAL (
    SELECT * FROM runs x
    WHERE x.tenant_id = s.tenant_id AND x.schedule_id = k.schedule_id
      AND x.status NOT IN ('scheduled', 'waiting')
    ORDER BY x.nominal_at DESC
    LIMIT 1
) AS r;

-- name: runs_at_nominals
SELECT * FROM runs WHERE schedule_id = $1 AND nominal_at = ANY($2::timestamptz[]);

-- name: rearm_runs
UPDATE runs r
SET status = u.status, reason = u.reason, missed_count = NULL, available_at = u.available_at,
    priority = u.priority, buffered = u.buffered, origin = 'backfill',
    backfill_id = u.backfill_id, updated_at = u.updated_at
FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::timestamptz[],
            $6::smallint[], $7::bool[], $8::uuid[], $9::timestamptz[])
     AS u(tenant_id, id, status, reason, available_at, priority, buffered, backfill_id,
          updated_at)
WHERE r.tenant_id = u.tenant_id AND r.id = u.id AND r.status IN ('missed', 'skipped');

-- name: backfill_progress
SELECT status, count(*) AS runs FROM runs WHERE backfill_id = $1 GROUP BY status;

-- name: insert_backfill
INSERT INTO backfills (tenant_id, id, schedule_id, from_at, to_at, max_runs, overlap_policy,
                       ignore_calendar, planned, created, rearmed, existing, next_from,
                       created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14);

-- name: get_backfill
SELECT * FROM backfills WHERE id = $1;

-- name: run_counts
SELECT status, count(*) AS runs FROM runs
WHERE ($1::uuid IS NULL OR schedule_id = $1) AND nominal_at >= $2
GROUP BY status;

-- name: run_timings
-- Durations of ended attempts; lateness of first attempts (start - nominal), seconds,
-- of the runs the rule or an event made: a backfill's or a manual run's nominal time is
-- in the past by design, not late.
SELECT
    percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM a.ended_at - a.started_at))
        FILTER (WHERE a.ended_at IS NOT NULL) AS duration_p50,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM a.ended_at - a.started_at))
        FILTER (WHERE a.ended_at IS NOT NULL) AS duration_p95,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM a.started_at - r.nominal_at))
        FILTER (WHERE a.number = 1 AND r.origin IN ('schedule', 'event')) AS lateness_p50,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM a.started_at - r.nominal_at))
        FILTER (WHERE a.number = 1 AND r.origin IN ('schedule', 'event')) AS lateness_p95
FROM runs r
-- attempts' rows, and the one attempt an instant delivery keeps in its run row
CROSS JOIN LATERAL (
    SELECT number, started_at, ended_at FROM run_attempts
    WHERE run_attempts.tenant_id = r.tenant_id AND run_attempts.run_id = r.id
    UNION ALL
    SELECT r.attempt, r.started_at, r.ended_at WHERE r.started_at IS NOT NULL
) a
WHERE ($1::uuid IS NULL OR r.schedule_id = $1) AND r.nominal_at >= $2;

-- name: insert_calendar
INSERT INTO calendars (tenant_id, id, name, version, spec, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7);

-- name: update_calendar
UPDATE calendars SET name = $3, version = $4, spec = $5, updated_at = $6
WHERE tenant_id = $1 AND id = $2 AND version = $7;

-- name: get_calendar
SELECT * FROM calendars WHERE id = $1;

-- name: calendar_version
SELECT version FROM calendars WHERE id = $1;

-- name: list_calendars
SELECT * FROM calendars
WHERE $1::timestamptz IS NULL OR (created_at, id) > ($1, $2::uuid)
ORDER BY created_at, id
LIMIT $3;

-- name: delete_calendar
DELETE FROM calendars WHERE id = $1;

-- name: calendar_users
SELECT count(*) FROM schedules WHERE calendar_id = $1 AND state <> 'deleted';

-- name: lock_waiting
SELECT * FROM runs WHERE status = 'waiting' AND partition = ANY($2::int[])
ORDER BY nominal_at LIMIT $1 FOR UPDATE SKIP LOCKED;

-- name: purge_runs
-- Retention: ended runs older than $1 and beyond their schedule's $2 newest ended ones.
WITH ranked AS (
    SELECT tenant_id, id, nominal_at,
           row_number() OVER (PARTITION BY tenant_id, schedule_id ORDER BY nominal_at DESC)
               AS newest
    FROM runs
    WHERE status IN ('succeeded', 'dead', 'cancelled', 'missed', 'skipped')
), doomed AS (
    SELECT tenant_id, id FROM ranked
    WHERE ($1::timestamptz IS NULL OR nominal_at < $1) AND ($2::int IS NULL OR newest > $2)
    LIMIT $3
)
DELETE FROM runs r USING doomed d WHERE r.tenant_id = d.tenant_id AND r.id = d.id;

-- name: event_schedules
SELECT tenant_id, id, name, job_id, spec, state, next_fire_at, fire_count, system, version,
       created_at, updated_at
FROM schedules
WHERE state = 'enabled' AND trigger_type = 'EVENT';

-- name: insert_audit
INSERT INTO audit_log (tenant_id, id, at, actor, method, path, status, before, after)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb);

-- name: list_audit
SELECT * FROM audit_log
WHERE ($1::timestamptz IS NULL OR (at, id) < ($1, $2))
ORDER BY at DESC, id DESC
LIMIT $3;

-- name: tenant_usage
-- Each visible tenant's usage (RLS: one tenant in a tenant transaction, all in a system
-- one). Active runs come from the partial/status indexes; ended ones since $1.
WITH s AS (
    SELECT tenant_id,
           count(*) FILTER (WHERE state <> 'deleted') AS schedules,
           count(*) FILTER (WHERE state = 'enabled') AS enabled
    FROM schedules WHERE NOT system GROUP BY tenant_id
), j AS (
    SELECT tenant_id, count(*) AS jobs FROM jobs
    WHERE target_kind <> 'SYSTEM' AND deleted_at IS NULL GROUP BY tenant_id
), a AS (
    SELECT tenant_id,
           count(*) FILTER (WHERE status = 'running') AS running,
           count(*) FILTER (WHERE status IN ('scheduled', 'pending')) AS queued,
           count(*) FILTER (WHERE status = 'waiting') AS waiting
    FROM runs WHERE status IN ('waiting', 'scheduled', 'pending', 'running')
    GROUP BY tenant_id
), e AS (
    SELECT tenant_id, jsonb_object_agg(status, n)::text AS ended
    FROM (SELECT tenant_id, status, count(*) AS n FROM runs
          WHERE status NOT IN ('waiting', 'scheduled', 'pending', 'running')
            AND updated_at >= $1
          GROUP BY tenant_id, status) x
    GROUP BY tenant_id
), w AS (
    SELECT tenant_id, count(*) AS workers FROM workers WHERE state <> 'offline'
    GROUP BY tenant_id
), t AS (
    SELECT tenant_id FROM s UNION SELECT tenant_id FROM j UNION SELECT tenant_id FROM a
    UNION SELECT tenant_id FROM e UNION SELECT tenant_id FROM w
)
SELECT t.tenant_id,
       coalesce(s.schedules, 0) AS schedules, coalesce(s.enabled, 0) AS enabled,
       coalesce(j.jobs, 0) AS jobs, coalesce(a.running, 0) AS running,
       coalesce(a.queued, 0) AS queued, coalesce(a.waiting, 0) AS waiting,
       coalesce(w.workers, 0) AS workers, coalesce(e.ended, '{}') AS ended
FROM t
LEFT JOIN s USING (tenant_id) LEFT JOIN j USING (tenant_id) LEFT JOIN a USING (tenant_id)
LEFT JOIN e USING (tenant_id) LEFT JOIN w USING (tenant_id)
WHERE t.tenant_id <> '_system'
ORDER BY t.tenant_id;

-- name: quarantine_schedule
-- A schedule whose stored document cannot be read: paused with the reason kept in its
-- document (when the document is an object), so no loop reads it again. Only once.
UPDATE schedules
SET state = 'paused',
    spec = CASE WHEN jsonb_typeof(spec) = 'object'
                THEN jsonb_set(spec, '{state_reason}', to_jsonb($3::text)) ELSE spec END,
    version = version + 1,
    updated_at = now()
WHERE tenant_id = $1 AND id = $2 AND state = 'enabled'
RETURNING version, name;

-- name: quarantine_run
-- A run whose row cannot be read: dead with the reason, so no claim or rescue reads it.
UPDATE runs
SET status = 'dead', reason = $3, lease_until = NULL, timeout_at = NULL, worker_id = NULL,
    lease_secret = NULL, updated_at = now()
WHERE tenant_id = $1 AND id = $2 AND status NOT IN ('succeeded', 'dead', 'cancelled', 'missed', 'skipped')
RETURNING attempt;

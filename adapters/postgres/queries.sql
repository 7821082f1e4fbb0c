-- Named SQL blocks, loaded once by adapters/postgres/queries.py.
-- Every statement runs inside a transaction whose tenant is set with
-- set_config('kairos.tenant_id', ...): row-level security scopes it to that tenant.

-- name: set_tenant
SELECT set_config('kairos.tenant_id', $1, true);

-- name: insert_job
INSERT INTO jobs (tenant_id, id, name, spec, version, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7);

-- name: update_job
UPDATE jobs SET name = $3, spec = $4, version = $5, updated_at = $6
WHERE tenant_id = $1 AND id = $2 AND version = $7;

-- name: get_job
SELECT tenant_id, id, name, spec, version, created_at, updated_at
FROM jobs WHERE id = $1;

-- name: job_version
SELECT version FROM jobs WHERE id = $1;

-- name: insert_schedule
INSERT INTO schedules (tenant_id, id, name, job_id, calendar_id, spec, state, next_fire_at,
                       fire_count, system, version, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13);

-- name: update_schedule
UPDATE schedules SET name = $3, job_id = $4, calendar_id = $5, spec = $6, state = $7,
       next_fire_at = $8, fire_count = $9, system = $10, version = $11, updated_at = $12
WHERE tenant_id = $1 AND id = $2 AND version = $13;

-- name: get_schedule
SELECT tenant_id, id, name, job_id, spec, state, next_fire_at, fire_count, system, version,
       created_at, updated_at
FROM schedules WHERE id = $1;

-- name: schedule_by_name
SELECT tenant_id, id, name, job_id, spec, state, next_fire_at, fire_count, system, version,
       created_at, updated_at
FROM schedules WHERE name = $1 AND state <> 'deleted';

-- name: schedule_version
SELECT version FROM schedules WHERE id = $1;

-- name: append_outbox
INSERT INTO outbox (tenant_id, event_id, aggregate_id, type, subject, payload, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (event_id) DO NOTHING;

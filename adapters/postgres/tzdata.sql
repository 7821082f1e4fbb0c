-- Zone rules (tzdata): the version the deployment planned with, and what a change moved.

-- name: tzdata_recorded
SELECT version FROM tzdata_state WHERE name = 'deployment';

-- name: tzdata_record
INSERT INTO tzdata_state (name, version, replica, recorded_at)
VALUES ('deployment', $1, $2, $3)
ON CONFLICT (name) DO UPDATE
SET version = EXCLUDED.version, replica = EXCLUDED.replica, recorded_at = EXCLUDED.recorded_at;

-- name: tzdata_planned
-- Keyset over (tenant, id); the last materialised nominal through the run key's index.
SELECT s.*,
       (SELECT max(r.nominal_at) FROM runs r
        WHERE r.tenant_id = s.tenant_id AND r.schedule_id = s.id) AS last_nominal
FROM schedules s
WHERE s.state IN ('enabled', 'paused') AND s.next_fire_at IS NOT NULL
  AND ($1::text IS NULL OR (s.tenant_id, s.id) > ($1, $2::uuid))
ORDER BY s.tenant_id, s.id
LIMIT $3;

-- name: tzdata_add_replans
INSERT INTO tzdata_replans (tenant_id, schedule_id, name, timezone, tzdata_from, tzdata_to,
                            old_next_fire_at, new_next_fire_at, replanned_at)
SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::timestamptz[], $8::timestamptz[], $9::timestamptz[])
ON CONFLICT (tenant_id, schedule_id, tzdata_to) DO UPDATE
SET tzdata_from = EXCLUDED.tzdata_from, old_next_fire_at = EXCLUDED.old_next_fire_at,
    new_next_fire_at = EXCLUDED.new_next_fire_at, replanned_at = EXCLUDED.replanned_at;

-- name: tzdata_replans
SELECT * FROM tzdata_replans ORDER BY replanned_at DESC, schedule_id DESC LIMIT $1;

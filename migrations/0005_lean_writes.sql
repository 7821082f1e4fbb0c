-- Fewer index writes per run state change (every change rewrites the row and touches each
-- index on it), and an outbox that only holds what is not yet in the stream.

-- Same columns as the UNIQUE (tenant_id, schedule_id, nominal_at) key, which serves
-- "a schedule's runs, newest first" by scanning backwards.
DROP INDEX runs_schedule_idx;
-- No query reads runs by (status, updated_at); listing is by nominal time (runs_listing_idx).
DROP INDEX runs_status_idx;

-- The relay deletes an event once the stream acknowledged it (JetStream keeps the
-- history). A delete writes no new row version and no index entries; marking did both.
DROP INDEX outbox_unpublished_idx;
DELETE FROM outbox WHERE published_at IS NOT NULL;
ALTER TABLE outbox DROP COLUMN published_at;

-- Runs carry the names of their schedule and job as they were when the run was made,
-- so answers and events show names beside ids without a lookup (a later rename does
-- not rewrite history). Runs made before this migration get today's names.

ALTER TABLE runs ADD COLUMN schedule_name text, ADD COLUMN job_name text;

-- The backfill must see every tenant's rows: row-level security is forced (the owner
-- obeys it too), so it is relaxed for the owner for these statements only, inside this
-- migration's transaction.
ALTER TABLE runs NO FORCE ROW LEVEL SECURITY;
ALTER TABLE schedules NO FORCE ROW LEVEL SECURITY;
ALTER TABLE jobs NO FORCE ROW LEVEL SECURITY;

UPDATE runs r SET schedule_name = s.name
FROM schedules s WHERE s.tenant_id = r.tenant_id AND s.id = r.schedule_id;
UPDATE runs r SET job_name = j.name
FROM jobs j WHERE j.tenant_id = r.tenant_id AND j.id = r.job_id;

ALTER TABLE runs FORCE ROW LEVEL SECURITY;
ALTER TABLE schedules FORCE ROW LEVEL SECURITY;
ALTER TABLE jobs FORCE ROW LEVEL SECURITY;

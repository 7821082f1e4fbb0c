-- Jobs can be deleted (DELETE /jobs/{id}, refused while a live schedule runs them).
-- The row stays, marked deleted_at, because deleted schedules (whose runs and history
-- stay readable) still reference it; every read leaves it out, its signing secrets are
-- removed from its document, and its name is free for a new job.

ALTER TABLE jobs ADD COLUMN deleted_at timestamptz;
ALTER TABLE jobs DROP CONSTRAINT jobs_tenant_id_name_key;
CREATE UNIQUE INDEX jobs_name_key ON jobs (tenant_id, name) WHERE deleted_at IS NULL;

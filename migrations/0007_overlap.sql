-- Overlap (SEMANTICS 8) and per-job concurrency, decided against a schedule's or a job's
-- runs that have not ended.

-- A buffered run (overlap buffer_one/buffer_all) is claimable only once every earlier
-- run of its schedule has ended.
ALTER TABLE runs ADD COLUMN buffered boolean NOT NULL DEFAULT false;

-- A schedule's active runs: the materialiser's overlap check, the buffered-run check.
CREATE INDEX runs_active_idx ON runs (tenant_id, schedule_id, nominal_at)
    WHERE status IN ('scheduled', 'pending', 'running');

-- A job's running runs: max_concurrency at claim time.
CREATE INDEX runs_running_job_idx ON runs (tenant_id, job_id) WHERE status = 'running';

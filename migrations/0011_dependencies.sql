-- Dependencies between schedules: a run may wait for its upstream schedules' runs of
-- the same period (status 'waiting'); a waiting run has not ended, so it counts as
-- active for overlap.
ALTER TABLE runs DROP CONSTRAINT runs_status_check;
ALTER TABLE runs ADD CONSTRAINT runs_status_check CHECK (status IN (
    'waiting', 'scheduled', 'pending', 'running', 'succeeded', 'failed', 'dead',
    'cancelled', 'missed', 'skipped'));

DROP INDEX runs_active_idx;
CREATE INDEX runs_active_idx ON runs (tenant_id, schedule_id, nominal_at)
    WHERE status IN ('waiting', 'scheduled', 'pending', 'running');

-- The leader's resolver walks waiting runs.
CREATE INDEX runs_waiting_idx ON runs (nominal_at) WHERE status = 'waiting';

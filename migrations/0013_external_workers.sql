-- External workers and targets: cancel requests on running runs, what a target answered
-- on each attempt, worker labels, and counting the runs a worker holds (its capacity).
ALTER TABLE runs ADD COLUMN cancel_requested text;
ALTER TABLE run_attempts ADD COLUMN detail jsonb;
ALTER TABLE workers ADD COLUMN labels jsonb NOT NULL DEFAULT '{}';
CREATE INDEX runs_worker_idx ON runs (worker_id) WHERE status = 'running';

-- The instant path (docs/semantics.md, *Instant delivery*) writes a run once, already
-- succeeded: its only attempt lives in the run row (started_at, ended_at, started_by),
-- so such a run has no run_attempts row. Leased attempts keep their rows as before.
ALTER TABLE runs
    ADD COLUMN started_at timestamptz,
    ADD COLUMN ended_at timestamptz,
    ADD COLUMN started_by uuid;

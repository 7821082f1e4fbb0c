-- Backfills (SEMANTICS 6): an operator's request to run a schedule's fires of a past
-- span. Its id is derived from the request, so repeating it finds the same backfill.
CREATE TABLE backfills (
    tenant_id       text        NOT NULL,
    id              uuid        NOT NULL,
    schedule_id     uuid        NOT NULL,
    from_at         timestamptz NOT NULL,
    to_at           timestamptz NOT NULL,
    max_runs        integer     NOT NULL CHECK (max_runs > 0),
    overlap_policy  text,
    ignore_calendar boolean     NOT NULL,
    planned         integer     NOT NULL,  -- fires of the rule in [from_at, to_at), capped
    created         integer     NOT NULL,  -- runs created
    rearmed         integer     NOT NULL,  -- missed/skipped records turned into runs
    existing        integer     NOT NULL,  -- fires that already had a run: left alone
    next_from       timestamptz,           -- capped: where a follow-up backfill starts
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, schedule_id) REFERENCES schedules (tenant_id, id),
    CHECK (from_at < to_at)
);

ALTER TABLE backfills ENABLE ROW LEVEL SECURITY;
ALTER TABLE backfills FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON backfills
    USING (tenant_id = (SELECT kairos_current_tenant()) OR (SELECT kairos_is_system()))
    WITH CHECK (tenant_id = (SELECT kairos_current_tenant()) OR (SELECT kairos_is_system()));
GRANT SELECT, INSERT, UPDATE, DELETE ON backfills TO kairos_app, kairos_system;

-- A backfill's runs, for its progress.
ALTER TABLE runs ADD COLUMN backfill_id uuid;
CREATE INDEX runs_backfill_idx ON runs (tenant_id, backfill_id) WHERE backfill_id IS NOT NULL;

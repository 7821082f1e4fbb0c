-- Zone rules (tzdata). Governments change their clocks at short notice; a next fire
-- planned under old rules is wrong under new ones. The deployment records the tzdata
-- version its stored next fires were planned with; a leader whose version differs
-- re-plans them and lists each schedule whose next fire moved.
CREATE TABLE tzdata_state (
    name        text        PRIMARY KEY CHECK (name = 'deployment'),
    version     text        NOT NULL,
    replica     text        NOT NULL,
    recorded_at timestamptz NOT NULL
);
-- No tenant data: the API may read the deployment's version; only the scheduler writes.
GRANT SELECT ON tzdata_state TO kairos_app;
GRANT SELECT, INSERT, UPDATE ON tzdata_state TO kairos_system;

CREATE TABLE tzdata_replans (
    tenant_id        text        NOT NULL,
    schedule_id      uuid        NOT NULL,
    name             text        NOT NULL,
    timezone         text        NOT NULL,
    tzdata_from      text        NOT NULL,
    tzdata_to        text        NOT NULL,
    old_next_fire_at timestamptz,
    new_next_fire_at timestamptz,
    replanned_at     timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, schedule_id, tzdata_to),
    FOREIGN KEY (tenant_id, schedule_id) REFERENCES schedules (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX tzdata_replans_at_idx ON tzdata_replans (tenant_id, replanned_at DESC);

ALTER TABLE tzdata_replans ENABLE ROW LEVEL SECURITY;
ALTER TABLE tzdata_replans FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tzdata_replans
    USING (tenant_id = (SELECT kairos_current_tenant()) OR (SELECT kairos_is_system()))
    WITH CHECK (tenant_id = (SELECT kairos_current_tenant()) OR (SELECT kairos_is_system()));
GRANT SELECT ON tzdata_replans TO kairos_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON tzdata_replans TO kairos_system;

-- Which tzdata planned each fire. The inserting session names its version once, when
-- it connects (``kairos.tzdata``), so the materialiser's insert does not change; a
-- session that names none records NULL.
ALTER TABLE runs ADD COLUMN tzdata_version text
    DEFAULT nullif(current_setting('kairos.tzdata', true), '');

-- Kairos core schema: schedules, jobs, calendars, runs (+ attempts), workers, outbox,
-- leader lease. Every tenant table carries tenant_id and is protected by row-level
-- security (enabled and FORCED, so even the owner obeys it); the tenant is set per
-- transaction with set_config('kairos.tenant_id', <tenant>, true).
--
-- Roles: the migrating user owns the tables; the service connects as kairos_app, which
-- neither owns them nor bypasses RLS.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'kairos_app') THEN
        CREATE ROLE kairos_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
END
$$;

CREATE FUNCTION kairos_current_tenant() RETURNS text
    LANGUAGE sql STABLE
    AS $$ SELECT nullif(current_setting('kairos.tenant_id', true), '') $$;

CREATE TABLE jobs (
    tenant_id   text        NOT NULL,
    id          uuid        NOT NULL,
    name        text        NOT NULL,
    spec        jsonb       NOT NULL,
    version     integer     NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
);

CREATE TABLE calendars (
    tenant_id   text        NOT NULL,
    id          uuid        NOT NULL,
    name        text        NOT NULL,
    version     integer     NOT NULL DEFAULT 1,
    spec        jsonb       NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
);

CREATE TABLE schedules (
    tenant_id    text        NOT NULL,
    id           uuid        NOT NULL,
    name         text        NOT NULL,
    job_id       uuid        NOT NULL,
    calendar_id  uuid,
    spec         jsonb       NOT NULL,
    state        text        NOT NULL CHECK (state IN ('enabled', 'paused', 'completed', 'deleted')),
    next_fire_at timestamptz,
    fire_count   bigint      NOT NULL DEFAULT 0,
    system       boolean     NOT NULL DEFAULT false,
    version      integer     NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, job_id) REFERENCES jobs (tenant_id, id),
    FOREIGN KEY (tenant_id, calendar_id) REFERENCES calendars (tenant_id, id)
);
-- A deleted schedule frees its name.
CREATE UNIQUE INDEX schedules_name_key ON schedules (tenant_id, name) WHERE state <> 'deleted';
-- The materialiser's question: which enabled schedules are due by now()?
CREATE INDEX schedules_due_idx ON schedules (next_fire_at) WHERE state = 'enabled';

CREATE TABLE runs (
    tenant_id        text        NOT NULL,
    id               uuid        NOT NULL,
    schedule_id      uuid        NOT NULL,
    job_id           uuid        NOT NULL,
    nominal_at       timestamptz NOT NULL,
    dispatch_at      timestamptz NOT NULL,
    status           text        NOT NULL CHECK (status IN (
                         'scheduled', 'pending', 'running', 'succeeded', 'failed', 'dead',
                         'cancelled', 'missed', 'skipped')),
    reason           text,
    attempt          integer     NOT NULL DEFAULT 0,
    max_attempts     integer     NOT NULL,
    priority         smallint    NOT NULL,
    available_at     timestamptz NOT NULL,
    lease_until      timestamptz,
    -- Server-enforced timeout of the current attempt (start + job timeout).
    timeout_at       timestamptz,
    lease_token      bigint      NOT NULL DEFAULT 0,
    worker_id        uuid,
    capability       text        NOT NULL,
    payload          jsonb       NOT NULL DEFAULT '{}',
    calendar_id      uuid,
    calendar_version integer,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    -- SEMANTICS 6: a fire's identity. Materialising it twice is a no-op.
    UNIQUE (tenant_id, schedule_id, nominal_at)
);
-- Claim: runs whose dispatch time has come (scheduled ones become claimable then),
-- by capability, highest priority first, then oldest dispatch.
CREATE INDEX runs_claim_idx ON runs (capability, priority DESC, available_at)
    WHERE status IN ('pending', 'scheduled');
-- Rescuer: running runs whose lease has lapsed.
CREATE INDEX runs_lease_idx ON runs (lease_until) WHERE status = 'running';
CREATE INDEX runs_schedule_idx ON runs (tenant_id, schedule_id, nominal_at DESC);
CREATE INDEX runs_status_idx ON runs (tenant_id, status, updated_at DESC);

-- Fencing tokens only grow, across all runs.
CREATE SEQUENCE run_lease_token_seq;

CREATE TABLE run_attempts (
    tenant_id  text        NOT NULL,
    run_id     uuid        NOT NULL,
    number     integer     NOT NULL,
    worker_id  uuid        NOT NULL,
    started_at timestamptz NOT NULL,
    ended_at   timestamptz,
    outcome    text,
    error      text,
    PRIMARY KEY (tenant_id, run_id, number),
    FOREIGN KEY (tenant_id, run_id) REFERENCES runs (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE workers (
    tenant_id          text        NOT NULL,
    id                 uuid        NOT NULL,
    name               text        NOT NULL,
    capabilities       text[]      NOT NULL,
    capacity           integer     NOT NULL,
    version            text        NOT NULL DEFAULT '',
    state              text        NOT NULL CHECK (state IN ('online', 'draining', 'offline')),
    heartbeat_interval interval    NOT NULL,
    registered_at      timestamptz NOT NULL,
    last_heartbeat_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX workers_liveness_idx ON workers (last_heartbeat_at) WHERE state <> 'offline';

-- Transactional outbox: written in the same transaction as the change it describes.
CREATE TABLE outbox (
    seq          bigserial   PRIMARY KEY,
    tenant_id    text        NOT NULL,
    event_id     uuid        NOT NULL UNIQUE,
    aggregate_id uuid        NOT NULL,
    type         text        NOT NULL,
    subject      text        NOT NULL,
    payload      jsonb       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished_idx ON outbox (seq) WHERE published_at IS NULL;

-- One leader among scheduler replicas; epoch only grows (fencing).
CREATE TABLE leader_lease (
    name       text        PRIMARY KEY,
    holder     text        NOT NULL,
    epoch      bigint      NOT NULL,
    expires_at timestamptz NOT NULL
);

-- Row-level security on every tenant table, enabled and forced.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['jobs', 'calendars', 'schedules', 'runs', 'run_attempts',
                             'workers', 'outbox']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I USING (tenant_id = kairos_current_tenant()) '
            'WITH CHECK (tenant_id = kairos_current_tenant())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO kairos_app', t);
    END LOOP;
END
$$;

GRANT USAGE ON SEQUENCE run_lease_token_seq, outbox_seq_seq TO kairos_app;
GRANT EXECUTE ON FUNCTION kairos_current_tenant() TO kairos_app;

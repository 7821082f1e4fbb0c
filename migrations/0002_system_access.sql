-- Cross-tenant work (materialiser, lease rescuer, outbox relay, the built-in worker pool)
-- must see every tenant's rows; tenant API traffic must never. No role bypasses RLS:
-- instead the policies admit a transaction that declares system mode
-- (set_config('kairos.system', 'on', true)) *and* whose role is a member of
-- kairos_system. The scheduler connects as kairos_scheduler (a member); the API's
-- kairos_app is not, so setting the flag gains it nothing.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'kairos_system') THEN
        CREATE ROLE kairos_system NOLOGIN NOSUPERUSER NOBYPASSRLS;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'kairos_scheduler') THEN
        CREATE ROLE kairos_scheduler LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE
            IN ROLE kairos_system;
    END IF;
END
$$;

CREATE FUNCTION kairos_is_system() RETURNS boolean
    LANGUAGE sql STABLE
    AS $$
        SELECT coalesce(current_setting('kairos.system', true), '') = 'on'
           AND pg_has_role(current_user, 'kairos_system', 'MEMBER')
    $$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['jobs', 'calendars', 'schedules', 'runs', 'run_attempts',
                             'workers', 'outbox']
    LOOP
        EXECUTE format('DROP POLICY tenant_isolation ON %I', t);
        -- Scalar subqueries: evaluated once per statement, not once per row.
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I '
            'USING (tenant_id = (SELECT kairos_current_tenant()) OR (SELECT kairos_is_system())) '
            'WITH CHECK (tenant_id = (SELECT kairos_current_tenant()) OR (SELECT kairos_is_system()))',
            t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO kairos_system', t);
    END LOOP;
END
$$;

GRANT SELECT, INSERT, UPDATE, DELETE ON leader_lease TO kairos_system;
GRANT USAGE ON SEQUENCE run_lease_token_seq, outbox_seq_seq TO kairos_system;
GRANT EXECUTE ON FUNCTION kairos_current_tenant(), kairos_is_system() TO kairos_app, kairos_system;

-- Wake-ups instead of polling: the materialiser sleeps until the next due fire and is
-- woken early when a schedule changes; the relay is woken when events are committed.
-- Statement-level triggers: one notification per statement, not per row (bursts).

CREATE FUNCTION kairos_notify_schedules() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('kairos_schedules', '');
    RETURN NULL;
END
$$;

CREATE FUNCTION kairos_notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('kairos_outbox', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER schedules_changed AFTER INSERT OR UPDATE ON schedules
    FOR EACH STATEMENT EXECUTE FUNCTION kairos_notify_schedules();

CREATE TRIGGER outbox_appended AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION kairos_notify_outbox();

-- Replicas refuse to start on a schema they do not know, and health checks report
-- "migrations current": both read the migration record.
GRANT SELECT ON kairos_migrations TO kairos_app, kairos_system;

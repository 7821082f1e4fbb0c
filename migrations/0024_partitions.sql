-- Partitioned leadership: the scheduler's work is split into a fixed number of
-- partitions, each with a lease of its own (leader_lease rows named partition/NN), so
-- materialising, rescuing and relaying scale with replicas. A schedule's partition
-- derives from its id and never moves; its runs and their outbox rows carry it; any
-- other event carries its aggregate's (domain/partitions.py computes the same).

-- The count is the deployment's, fixed here: no running replica changes it.
CREATE TABLE kairos_settings (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),
    partitions integer NOT NULL CHECK (partitions BETWEEN 1 AND 4096)
);
INSERT INTO kairos_settings (partitions) VALUES (64);
GRANT SELECT ON kairos_settings TO kairos_app, kairos_system;

-- The last 32 bits of the id (random in version 4 and 7 UUIDs), modulo the count.
CREATE FUNCTION kairos_partition(id uuid, partitions integer) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT ((('x' || right(id::text, 8))::bit(32)::bigint) % partitions)::integer $$;

CREATE FUNCTION kairos_partition(id uuid) RETURNS integer
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT kairos_partition(id, (SELECT partitions FROM kairos_settings)) $$;

GRANT EXECUTE ON FUNCTION kairos_partition(uuid, integer), kairos_partition(uuid)
    TO kairos_app, kairos_system;

ALTER TABLE schedules ADD COLUMN partition integer;
ALTER TABLE runs ADD COLUMN partition integer;
ALTER TABLE outbox ADD COLUMN partition integer;

-- Every insert gets its partition unless it names one: the insert statements need not
-- know the count.
CREATE FUNCTION kairos_schedule_partition() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        IF NEW.partition IS NULL THEN
            NEW.partition := kairos_partition(NEW.id);
        END IF;
        RETURN NEW;
    END
    $$;

CREATE FUNCTION kairos_run_partition() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        IF NEW.partition IS NULL THEN
            NEW.partition := kairos_partition(NEW.schedule_id);
        END IF;
        RETURN NEW;
    END
    $$;

CREATE FUNCTION kairos_outbox_partition() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        IF NEW.partition IS NULL THEN
            NEW.partition := kairos_partition(NEW.aggregate_id);
        END IF;
        RETURN NEW;
    END
    $$;

CREATE TRIGGER schedules_partition BEFORE INSERT ON schedules
    FOR EACH ROW EXECUTE FUNCTION kairos_schedule_partition();
CREATE TRIGGER runs_partition BEFORE INSERT ON runs
    FOR EACH ROW EXECUTE FUNCTION kairos_run_partition();
CREATE TRIGGER outbox_partition BEFORE INSERT ON outbox
    FOR EACH ROW EXECUTE FUNCTION kairos_outbox_partition();

-- Existing rows: row-level security is forced (the owner obeys it too), so it is
-- relaxed for the owner for these statements only, inside this migration's transaction.
ALTER TABLE schedules NO FORCE ROW LEVEL SECURITY;
ALTER TABLE runs NO FORCE ROW LEVEL SECURITY;
ALTER TABLE outbox NO FORCE ROW LEVEL SECURITY;

UPDATE schedules SET partition = kairos_partition(id);
UPDATE runs SET partition = kairos_partition(schedule_id);
-- A run's events go with its schedule (the payload names it), others with their aggregate.
UPDATE outbox SET partition = kairos_partition(
    CASE WHEN type LIKE 'scheduler.run.%' AND payload->'data'->>'schedule_id' IS NOT NULL
         THEN (payload->'data'->>'schedule_id')::uuid
         ELSE aggregate_id END);

ALTER TABLE schedules FORCE ROW LEVEL SECURITY;
ALTER TABLE runs FORCE ROW LEVEL SECURITY;
ALTER TABLE outbox FORCE ROW LEVEL SECURITY;

ALTER TABLE schedules ALTER COLUMN partition SET NOT NULL;
ALTER TABLE runs ALTER COLUMN partition SET NOT NULL;
ALTER TABLE outbox ALTER COLUMN partition SET NOT NULL;

-- The materialiser's question per partition set (the due index on next_fire_at stays).
CREATE INDEX schedules_partition_due_idx ON schedules (partition, next_fire_at)
    WHERE state = 'enabled';
-- The relay reads one partition set's events in commit order.
CREATE INDEX outbox_partition_idx ON outbox (partition, seq);

-- The replicas that share the partitions: each beats its row while it runs and deletes
-- it on a clean stop; a row past expires_at is a replica gone.
CREATE TABLE scheduler_replicas (
    name       text        PRIMARY KEY,
    started_at timestamptz NOT NULL,
    seen_at    timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
GRANT SELECT ON scheduler_replicas TO kairos_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON scheduler_replicas TO kairos_system;

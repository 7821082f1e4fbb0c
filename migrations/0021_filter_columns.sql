-- What SQL filters on is a column of its own, not a path into a stored document (spec):
-- a job's target kind (usage counts leave Kairos' own jobs out) and max_concurrency (the
-- claim leaves out runs of a job at its cap), a schedule's trigger type (the enabled
-- EVENT schedules an incoming message is matched against). The adapter writes them on
-- every save, from the object it writes the document from; the document keeps its shape.
--
-- Nullable: NULL where the stored document names none (no cap; a document without a
-- trigger), as the paths into it answered.

ALTER TABLE jobs ADD COLUMN target_kind text, ADD COLUMN max_concurrency integer;
ALTER TABLE schedules ADD COLUMN trigger_type text;

-- The backfill must see every tenant's rows: row-level security is forced (the owner
-- obeys it too), so it is relaxed for the owner for these two statements only, inside
-- this migration's transaction.
ALTER TABLE jobs NO FORCE ROW LEVEL SECURITY;
ALTER TABLE schedules NO FORCE ROW LEVEL SECURITY;

-- A max_concurrency that is not a number was no cap; any number keeps its meaning as a
-- cap (a fraction rounds up: the claim compared counts with it), clamped to integer range.
UPDATE jobs SET
    target_kind = spec #>> '{target,kind}',
    max_concurrency = CASE WHEN jsonb_typeof(spec -> 'max_concurrency') = 'number'
        THEN greatest(least(ceil((spec ->> 'max_concurrency')::numeric), 2147483647),
                      -2147483648)::integer
    END;

UPDATE schedules SET trigger_type = spec -> 'timing' -> 'trigger' ->> 'type';

ALTER TABLE jobs FORCE ROW LEVEL SECURITY;
ALTER TABLE schedules FORCE ROW LEVEL SECURITY;

-- The enabled EVENT schedules of a tenant, on the column.
CREATE INDEX schedules_event_trigger_idx ON schedules (tenant_id)
    WHERE state = 'enabled' AND trigger_type = 'EVENT';
DROP INDEX schedules_event_idx;

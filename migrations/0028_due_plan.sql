-- The materialiser's due query, with a plan that does not depend on statistics. Right
-- after many schedules were written (an import, a burst's seeding) and before
-- autovacuum analyzed them, the planner estimated a few due rows and chose a bitmap scan
-- of every due schedule plus a sort, on disk past work_mem: 228 ms for 1,000 of 50,000
-- due, against 4.6 ms once analyzed. Inside this function only, bitmap scans and sorts
-- are priced out, so the query walks the due index in time order and stops at its
-- limit whatever the statistics say. The caller's row-level security and locks apply
-- as to the plain query (SECURITY INVOKER; the rows are locked in the caller's
-- transaction).
CREATE FUNCTION kairos_due_schedules(until timestamptz, lim integer, parts integer[])
RETURNS TABLE (tenant_id text, id uuid, name text, job_id uuid, spec text, state text,
               next_fire_at timestamptz, fire_count bigint, system boolean, version integer,
               created_at timestamptz, updated_at timestamptz)
LANGUAGE sql VOLATILE
SET enable_bitmapscan = off
SET enable_sort = off
AS $$
    SELECT s.tenant_id, s.id, s.name, s.job_id, s.spec::text, s.state, s.next_fire_at,
           s.fire_count, s.system, s.version, s.created_at, s.updated_at
    FROM schedules s
    WHERE s.state = 'enabled' AND s.next_fire_at <= until AND s.partition = ANY(parts)
    ORDER BY s.next_fire_at
    LIMIT lim
    FOR UPDATE SKIP LOCKED
$$;
GRANT EXECUTE ON FUNCTION kairos_due_schedules(timestamptz, integer, integer[])
    TO kairos_scheduler, kairos_system;

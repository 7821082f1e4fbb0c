-- Event-triggered schedules: runs made by an incoming message, and finding a tenant's
-- enabled EVENT schedules for each message without scanning its other schedules.
ALTER TABLE runs DROP CONSTRAINT runs_origin_check;
ALTER TABLE runs ADD CONSTRAINT runs_origin_check
    CHECK (origin IN ('schedule', 'manual', 'backfill', 'event'));

CREATE INDEX schedules_event_idx ON schedules (tenant_id)
    WHERE state = 'enabled' AND (spec -> 'timing' -> 'trigger' ->> 'type') = 'EVENT';

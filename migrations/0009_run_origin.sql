-- What made a run: its schedule's rule, a manual trigger (POST /schedules/{id}/trigger,
-- scheduler.trigger.<tenant>) or a backfill.
ALTER TABLE runs ADD COLUMN origin text NOT NULL DEFAULT 'schedule'
    CHECK (origin IN ('schedule', 'manual', 'backfill'));

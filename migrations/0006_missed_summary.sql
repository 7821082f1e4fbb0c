-- SEMANTICS 7: beyond max_catchup, late fires are not recorded one by one; a single
-- `missed` run (its nominal time the latest of them) carries how many it stands for.
ALTER TABLE runs ADD COLUMN missed_count integer CHECK (missed_count IS NULL OR missed_count > 0);

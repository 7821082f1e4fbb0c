-- Claim order without a sort: (priority, available_at) for every capability at once.
-- With capability = ANY(...) the old (capability, priority, available_at) index could not
-- give that order, so each claim read and sorted every due run (on disk past work_mem in
-- a burst) before taking its batch.
CREATE INDEX runs_due_idx ON runs (priority DESC, available_at)
    WHERE status IN ('pending', 'scheduled');
DROP INDEX runs_claim_idx;

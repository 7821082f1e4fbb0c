-- The lease epoch becomes a key column: a takeover (which changes the epoch) then needs
-- a row lock that conflicts with a pass's fence (FOR KEY SHARE, taken by its last
-- statement), while a renewal (expires_at only, key intact) passes that lock. So a
-- takeover waits at most for a fenced commit, and no renewal waits behind a pass.
ALTER TABLE leader_lease ADD CONSTRAINT leader_lease_epoch_key UNIQUE (name, epoch);

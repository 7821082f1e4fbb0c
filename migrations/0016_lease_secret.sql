-- A lease's proof of possession: random (128 bits), handed only to the worker that
-- claimed the run, required with every heartbeat, completion and failure. The bigint
-- lease_token stays as the fencing value that orders writes; it is no credential.
ALTER TABLE runs ADD COLUMN lease_secret text;

-- Workers count their heartbeats: the count samples heartbeat events and makes each
-- worker event's id unique (it is part of the event revision).
ALTER TABLE workers ADD COLUMN beats bigint NOT NULL DEFAULT 0;

-- The API lists a tenant's runs newest fire first (GET /runs, keyset on nominal_at, id).
CREATE INDEX runs_listing_idx ON runs (tenant_id, nominal_at DESC, id DESC);

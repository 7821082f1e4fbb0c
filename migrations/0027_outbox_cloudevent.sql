-- The outbox keeps each event in the form the stream stores it: the CloudEvent as the
-- relay publishes it, written once by the transaction that made the change. The relay
-- forwards these bytes as they are (no decoding, no re-encoding per event), and such a
-- row's payload is left empty ('{}'). Rows written before this migration have no
-- CloudEvent and are encoded from their payload.
ALTER TABLE outbox ADD COLUMN cloudevent bytea;

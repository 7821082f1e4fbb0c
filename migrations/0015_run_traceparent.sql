-- Tracing: the W3C traceparent of the request that made a run (a manual trigger), so
-- its deliveries continue that trace.
ALTER TABLE runs ADD COLUMN traceparent text;

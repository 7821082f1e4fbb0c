"""Ports made real: PostgreSQL (``postgres``) and in-memory fakes (``memory``), NATS
JetStream (``nats``), the REST API (``http``), the HTTP target (``http_target``), token
verification (``auth``), the embedded servers (``embedded``), clocks, holiday and zone
sources, secrets, logs, metrics and tracing."""

"""Ports made real: clocks, holiday sources, and (in later issues) Postgres, NATS, HTTP."""

"""NATS adapters (nats-py): the JetStream event publisher and CloudEvents encoding."""

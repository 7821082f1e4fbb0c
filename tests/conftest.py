"""Shared fixtures and the test subsets.

The real servers (tests/servers.py) are available to every suite that asks for them and
start only when a test does. Every test that needs one is marked ``integration`` here, by
where it lives, the fixtures it uses and the backend it is parametrised over, so
``pytest -m "not integration"`` (``make unit``) runs the memory adapters alone. A server
fixture requested by an unmarked test fails that test instead of starting
(``tests.servers.require_integration``), so the fast subset never starts a server.
Generated-request fuzzing (schemathesis) is marked ``fuzz``: ``make unit`` leaves it to
``make fuzz`` and the whole suite.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["tests.servers"]

_TESTS = Path(__file__).parent
# Suites that run real servers, subprocesses or the container image throughout.
INTEGRATION_DIRS = frozenset({"integration", "e2e", "deploy", "chaos"})
# Fixtures that start PostgreSQL or nats-server (directly or through another fixture).
SERVER_FIXTURES = frozenset(
    {"server_root", "postgres", "database", "empty_database", "nats_server"}
)
# Modules that generate requests against the whole API (schemathesis): minutes of fuzzing
# at `make fuzz`'s setting, seconds per operation even at the suite's.
FUZZ_MODULES = frozenset({"test_schemathesis.py", "test_fuzz.py"})
# Parameters that select a real backend, e.g. the contract suite's ``subject`` fixture.
SERVER_PARAMS = frozenset({"postgres"})


def needs_servers(item: pytest.Item) -> bool:
    """Whether a collected test runs against real servers."""
    path = Path(str(item.path))
    if path.is_relative_to(_TESTS):
        parts = path.relative_to(_TESTS).parts
        if parts and parts[0] in INTEGRATION_DIRS:
            return True
    if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        return True
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        return any(
            isinstance(value, str) and value in SERVER_PARAMS for value in callspec.params.values()
        )
    return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.path)).name in FUZZ_MODULES and item.get_closest_marker("fuzz") is None:
            item.add_marker(pytest.mark.fuzz)
        if needs_servers(item) and item.get_closest_marker("integration") is None:
            item.add_marker(pytest.mark.integration)

"""API test fixtures: memory adapters on a fake clock."""

from __future__ import annotations

import pytest

from adapters.memory.clock import FakeClock
from adapters.memory.database import MemoryDatabase
from tests.api.support import T0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def db(clock: FakeClock) -> MemoryDatabase:
    return MemoryDatabase(clock)

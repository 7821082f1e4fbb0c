"""The production clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime


class SystemClock:
    """Reads the host's clock. Deciding what is *due* uses the database's ``now()``."""

    def now(self) -> datetime:
        return datetime.now(UTC)  # noqa: TID251 - the one place that may read the wall clock

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))

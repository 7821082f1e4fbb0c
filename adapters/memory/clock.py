"""A clock tests move by hand: no test sleeps for real time.

``sleep`` waits until the clock has been moved past its deadline (``advance``,
``set``); ``sleepers`` and ``until_sleeping`` let a test step a loop: wait until it
sleeps, advance, look at what it did.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta


class FakeClock:
    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware start instant")
        self._now = start
        self._sleepers: list[tuple[datetime, asyncio.Future[None]]] = []
        self._slept = asyncio.Event()  # set each time a sleep starts

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("time does not go backwards")
        self._now += delta
        self._wake()
        return self._now

    def set(self, instant: datetime) -> None:
        if instant < self._now:
            raise ValueError("time does not go backwards")
        self._now = instant
        self._wake()

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)  # still a point where others run, like asyncio.sleep(0)
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (self._now + timedelta(seconds=seconds), waiter)
        self._sleepers.append(entry)
        self._slept.set()
        try:
            await waiter
        finally:
            if entry in self._sleepers:
                self._sleepers.remove(entry)

    @property
    def sleepers(self) -> int:
        """Sleeps not yet over (cancelled ones excluded)."""
        return sum(1 for _, waiter in self._sleepers if not waiter.done())

    async def until_sleeping(self, count: int = 1) -> None:
        """Wait until at least ``count`` sleeps are pending: the loops have done what
        they could without time passing (bound it with ``asyncio.timeout``)."""
        while self.sleepers < count:
            self._slept.clear()
            await self._slept.wait()

    def _wake(self) -> None:
        for deadline, waiter in list(self._sleepers):
            if deadline <= self._now and not waiter.done():
                waiter.set_result(None)

"""The change feed over PostgreSQL's LISTEN/NOTIFY (``domain.ports.ChangeFeed``).

Triggers notify ``kairos_schedules`` when a schedule's next fire may have moved and
``kairos_outbox`` when events were appended (see migrations/). One connection of its
own listens on both; it is not a pool connection, since a LISTEN lasts for as long as
the session does.

A notification is only a wake-up: the loops poll while nobody listens, so losing the
connection (a PostgreSQL restart, a terminated backend, a network cut) costs latency,
never data. The feed notices the loss by the driver's termination callback or, for a
connection that died silently, by a ``SELECT 1`` every ``check_every``; it then opens
a new connection with jittered backoff (``initial`` doubling to ``maximum``), and
reports ``"all"`` once listening again, since what changed meanwhile was not notified.
One log line when the feed goes, one when it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable

import asyncpg

from adapters.postgres.outage import translated
from domain.errors import DependencyUnavailable
from domain.ports import Change

log = logging.getLogger("kairos.notifications")

APPLICATION_NAME = "kairos-listen"  # how the connection shows in pg_stat_activity
CHANNELS: dict[str, Change] = {"kairos_schedules": "schedules", "kairos_outbox": "outbox"}


class PostgresChangeFeed:
    def __init__(
        self,
        dsn: str,
        *,
        initial: float = 0.5,
        maximum: float = 10.0,
        check_every: float = 10.0,
        connect_timeout: float = 5.0,
    ) -> None:
        self._dsn = dsn
        self._initial = initial
        self._maximum = maximum
        self._check_every = check_every
        self._connect_timeout = connect_timeout
        self._listening = False
        self.connections = 0  # connections opened so far (the first, then reconnections)

    @property
    def listening(self) -> bool:
        return self._listening

    async def follow(self, on_change: Callable[[Change], None]) -> None:
        failures = 0
        down = False

        def back() -> None:
            nonlocal down, failures
            if down:
                log.info("LISTEN connection back; woken by notifications again")
            down, failures = False, 0

        while True:
            try:
                await self._listen(on_change, back)
                reason = "the LISTEN connection was lost"
            except DependencyUnavailable as exc:
                reason = str(exc)
            if not down:
                log.warning("LISTEN unavailable (%s); polling until it is back", reason)
                down = True
            delay = min(self._maximum, self._initial * 2**failures) * (0.5 + random.random() / 2)
            failures += 1
            await asyncio.sleep(delay)

    async def _listen(
        self, on_change: Callable[[Change], None], on_back: Callable[[], None]
    ) -> None:
        """One connection: listen until it is lost (returns) or cannot be had (raises
        ``DependencyUnavailable``)."""
        with translated(timeouts=True):
            conn = await asyncpg.connect(
                self._dsn,
                timeout=self._connect_timeout,
                server_settings={"application_name": APPLICATION_NAME},
            )
        lost = asyncio.Event()
        try:
            conn.add_termination_listener(lambda _: lost.set())
            with translated():
                for channel, change in CHANNELS.items():
                    await conn.add_listener(channel, _callback(on_change, change))
            self.connections += 1
            self._listening = True
            on_back()
            on_change("all")  # what was notified while nobody listened is looked at now
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), self._check_every)
                if not lost.is_set() and not await self._alive(conn):
                    return
        finally:
            self._listening = False
            with contextlib.suppress(Exception):  # a dead connection may fail to close
                async with asyncio.timeout(2.0):
                    await conn.close()
            if not conn.is_closed():
                conn.terminate()

    async def _alive(self, conn: asyncpg.Connection) -> bool:
        try:
            async with asyncio.timeout(self._connect_timeout):
                with translated():
                    await conn.fetchval("SELECT 1")
        except (DependencyUnavailable, TimeoutError):
            return False
        return True


def _callback(on_change: Callable[[Change], None], change: Change) -> asyncpg.connection.Listener:
    def callback(*_: object) -> None:
        on_change(change)

    return callback

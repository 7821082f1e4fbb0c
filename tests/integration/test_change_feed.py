"""The PostgreSQL change feed (LISTEN) on a real server: it survives its backend being
terminated, and the loops poll while it is away."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg

from adapters.postgres.notifications import APPLICATION_NAME, PostgresChangeFeed
from domain.ports import Change
from tests.servers import app_dsn

TERMINATE = """
    SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
    WHERE application_name = $1 AND datname = current_database()
"""


async def test_a_terminated_listen_backend_is_reconnected_and_notifies_again(
    database: str,
) -> None:
    """The feed reports "all" when listening, then each NOTIFY; its backend terminated
    (as a server restart does), it stops listening, reconnects with backoff, reports
    "all" again (changes meanwhile were not notified) and the next NOTIFY arrives."""
    feed = PostgresChangeFeed(app_dsn(database, "kairos_scheduler"), initial=0.05, maximum=0.2)
    changes: asyncio.Queue[Change] = asyncio.Queue()
    following = asyncio.create_task(feed.follow(changes.put_nowait))
    owner = await asyncpg.connect(database)
    try:
        async with asyncio.timeout(20):
            assert await changes.get() == "all"
            assert feed.listening
            await owner.execute("NOTIFY kairos_outbox")
            assert await changes.get() == "outbox"

            assert await owner.fetchval(TERMINATE, APPLICATION_NAME) == 1
            assert await changes.get() == "all"  # listening again, on a new connection
            assert feed.connections == 2
            assert feed.listening
            await owner.execute("NOTIFY kairos_schedules")
            assert await changes.get() == "schedules"
        assert changes.empty()
    finally:
        following.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await following
        await owner.close()
    assert not feed.listening

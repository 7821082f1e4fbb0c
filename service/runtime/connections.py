"""The process's connections: its PostgreSQL pool and its one NATS connection, each
waited for while its server is down, and closed quickly when the server is already
gone; the API's own pool (a role that cannot act for every tenant); the schema check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import nats
from nats.aio.client import Client

from adapters.postgres.database import (
    PostgresDatabase,
    SessionLimits,
    create_pool,
    session_role,
)
from adapters.postgres.migrate import pending
from service.loops.resilience import Dependencies, Stopped, describe, is_transient, retrying

log = logging.getLogger("kairos")

POSTGRES, NATS = "postgres", "nats"
CLOSE_TIMEOUT = 5.0  # closing a connection to a server that is gone must not hang a stop


@contextlib.asynccontextmanager
async def connected(
    database_url: str,
    nats_url: str,
    stop: asyncio.Event,
    deps: Dependencies,
    session: SessionLimits | None = None,
) -> AsyncIterator[tuple[PostgresDatabase, Client]]:
    """The process's Postgres pool and its one NATS connection, each waited for while
    its server is down (``Stopped`` if stop comes first); drained on exit."""

    def on_postgres(exc: BaseException | None) -> None:
        if exc is None:
            if deps.is_down(POSTGRES):
                deps.up(POSTGRES)
        else:
            deps.down(POSTGRES, exc)

    pool = await retrying(
        "connecting to PostgreSQL",
        lambda: create_pool(database_url, limits=session, name="kairos-scheduler"),
        stop,
        dependencies=deps,
        dependency=POSTGRES,
        logger=log,
    )
    try:
        nc = await _connect_nats(nats_url, stop, deps)
        try:
            yield PostgresDatabase(pool, on_state=on_postgres), nc
        finally:
            await _close_nats(nc)
    finally:
        await _close_pool(pool)


def nats_servers(url: str) -> list[str]:
    """``KAIROS_NATS_URL`` may list a cluster's nodes, comma-separated: the client
    connects to any and moves to another when its node goes."""
    return [part.strip() for part in url.split(",") if part.strip()]


def as_role(dsn: str, role: str) -> str:
    """``dsn`` with its user name replaced by ``role`` (password, host and options kept)."""
    parts = urlsplit(dsn)
    credentials, at, host = parts.netloc.rpartition("@")
    password = credentials.partition(":")[2] if at else ""
    netloc = f"{role}{':' + password if password else ''}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


@contextlib.asynccontextmanager
async def api_database(url: str) -> AsyncIterator[PostgresDatabase]:
    """The API's pool, as a role that cannot act for every tenant: one that is a
    member of kairos_system (the scheduler's) is refused, so a misconfigured URL stops
    the start instead of weakening tenant isolation."""
    pool = await create_pool(url, name="kairos-api")
    try:
        user, system = await session_role(pool)
        if system:
            raise RuntimeError(
                f"the API's database role {user!r} can act for every tenant; connect the "
                "API as kairos_app (KAIROS_API_DATABASE_URL)"
            )
        log.info("api connects to the database as %s", user)
        yield PostgresDatabase(pool)
    finally:
        await pool.close()


async def _close_pool(pool: Any) -> None:
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT):
            await pool.close()
    except Exception as exc:  # a server already gone: just drop the connections
        log.warning("PostgreSQL pool not closed cleanly (%s)", describe(exc))
        pool.terminate()


async def _connect_nats(url: str, stop: asyncio.Event, deps: Dependencies) -> Client:
    """The one NATS connection, reconnecting for ever. nats-py retries the first connect
    itself (``max_reconnect_attempts=-1``) and reports each failed attempt to
    ``error_cb``: those go to ``deps`` (one line per outage, not a traceback per try)."""
    holder: list[Client] = []

    async def on_error(exc: Exception) -> None:
        if not is_transient(exc):
            log.warning("nats: %s", describe(exc))
        elif holder and holder[0].is_connected:
            log.debug("nats: %s", describe(exc))  # the disconnect that follows says it
        else:  # a failed (re)connect attempt: part of the one outage
            deps.down(NATS, exc)

    async def on_disconnected() -> None:
        if holder and holder[0].is_closed:
            return  # our own close on the way out, not an outage
        deps.down(NATS, "disconnected; reconnecting")

    async def on_reconnected() -> None:
        deps.up(NATS)

    connecting = asyncio.ensure_future(
        nats.connect(
            servers=nats_servers(url),
            max_reconnect_attempts=-1,
            error_cb=on_error,
            disconnected_cb=on_disconnected,
            reconnected_cb=on_reconnected,
        )
    )
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({connecting, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if not connecting.done():
        connecting.cancel()
        await asyncio.wait({connecting})  # its own cancellation, not ours: not re-raised
        if not connecting.cancelled():
            connecting.exception()  # connected or failed meanwhile: we stop regardless
        raise Stopped("connecting to NATS")
    nc = connecting.result()
    holder.append(nc)
    deps.up(NATS)
    return nc


async def _close_nats(nc: Client) -> None:
    """Drain when connected; otherwise (reconnecting, NATS gone) just close: nats-py's
    ``drain`` raises ``ConnectionReconnectingError`` then, which must not replace the
    error that made us stop."""
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT):
            if nc.is_connected and not nc.is_draining:
                await nc.drain()
            elif not nc.is_closed:
                await nc.close()
    except Exception as exc:
        log.warning("NATS connection not drained (%s); closing it", describe(exc))
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await nc.close()


async def require_schema(database_url: str, stop: asyncio.Event, deps: Dependencies) -> None:
    """No pending migration; while PostgreSQL is down, wait for it."""

    async def check() -> Sequence[int]:
        return await pending(database_url)

    waiting = await retrying(
        "checking migrations", check, stop, dependencies=deps, dependency=POSTGRES, logger=log
    )
    if waiting:
        raise RuntimeError(f"migrations {waiting} are not applied: run `kairos migrate`")

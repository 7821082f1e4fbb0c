"""``kairos events tail``: print Kairos domain events as they are published.

Nothing answering at the NATS URL is one ``Unreachable`` after ``connect_timeout``
(no traceback per attempt); a stop (Ctrl-C, SIGTERM) is honoured at every moment,
while connecting too. Once connected, an outage is waited out quietly: the tail
resumes when the server is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable

from nats.aio.client import Client
from nats.aio.msg import Msg

CONNECT_TIMEOUT = 5.0
CLOSE_TIMEOUT = 2.0


class Unreachable(Exception):
    """Nothing answered at the NATS URL in time."""


def subject_for(tenant: str | None) -> str:
    """Everything, or one tenant's events (``scheduler.<entity>.<event>.<tenant>``)."""
    return "scheduler.>" if tenant is None else f"scheduler.*.*.{tenant}"


def render(data: bytes, *, raw: bool) -> str:
    if raw:
        return data.decode(errors="replace")
    try:
        event = json.loads(data)
        body = json.dumps(event.get("data", {}), separators=(",", ":"), sort_keys=True)
        return (
            f"{event.get('time', '?')} {event.get('type', '?')} {event.get('tenantid', '?')} {body}"
        )
    except (ValueError, AttributeError):
        return data.decode(errors="replace")


async def _connect(
    servers: list[str], stop: asyncio.Event, patience: float, notice: Callable[[str], None]
) -> Client | None:
    """The connection, None when stop came first; ``Unreachable`` after ``patience`` seconds."""
    nc = Client()
    failures: list[Exception] = []

    async def on_error(exc: Exception) -> None:
        failures.append(exc)  # quiet: the outcome is said once

    async def on_disconnected() -> None:
        if not nc.is_closed:
            notice("disconnected from NATS; waiting for it")

    async def on_reconnected() -> None:
        notice("reconnected to NATS")

    connecting = asyncio.ensure_future(
        nc.connect(
            servers=servers,
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            connect_timeout=2,
            error_cb=on_error,
            disconnected_cb=on_disconnected,
            reconnected_cb=on_reconnected,
        )
    )
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait(
            {connecting, stopped}, timeout=patience, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        stopped.cancel()
    if connecting.done() and connecting.exception() is None:
        return nc
    connecting.cancel()
    with contextlib.suppress(BaseException):
        await connecting
    await _close(nc)
    if stop.is_set():
        return None
    why = f" ({failures[-1]})" if failures else ""
    raise Unreachable(f"nothing answers at {', '.join(servers)}{why}")


async def _close(nc: Client) -> None:
    """Drain when connected; otherwise just close (draining while reconnecting raises)."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(CLOSE_TIMEOUT):
            if nc.is_connected and not nc.is_draining:
                await nc.drain()
                return
    with contextlib.suppress(Exception):
        async with asyncio.timeout(CLOSE_TIMEOUT):
            if not nc.is_closed:
                await nc.close()


async def tail(
    nats_url: str,
    *,
    tenant: str | None,
    count: int | None,
    raw: bool,
    out: Callable[[str], None],
    stop: asyncio.Event,
    subscribed: asyncio.Event | None = None,
    connect_timeout: float = CONNECT_TIMEOUT,
    notice: Callable[[str], None] = lambda _: None,
) -> int:
    """Print events until ``stop`` or ``count`` were printed; returns how many.
    ``notice`` gets the connection's news (disconnected, reconnected)."""
    servers = [u.strip() for u in nats_url.split(",") if u.strip()]
    nc = await _connect(servers, stop, connect_timeout, notice)
    if nc is None:
        return 0
    seen = 0
    done = asyncio.Event()

    async def on_message(msg: Msg) -> None:
        nonlocal seen
        if count is not None and seen >= count:
            return
        out(render(msg.data, raw=raw))
        seen += 1
        if count is not None and seen >= count:
            done.set()

    try:
        await nc.subscribe(subject_for(tenant), cb=on_message)
        await nc.flush()
        if subscribed is not None:
            subscribed.set()
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(done.wait())]
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
    finally:
        await _close(nc)
    return seen

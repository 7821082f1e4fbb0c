"""``kairos events tail``: print Kairos domain events as they are published."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import nats
from nats.aio.msg import Msg


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


async def tail(
    nats_url: str,
    *,
    tenant: str | None,
    count: int | None,
    raw: bool,
    out: Callable[[str], None],
    stop: asyncio.Event,
    subscribed: asyncio.Event | None = None,
) -> int:
    """Print events until ``stop`` or ``count`` were printed; returns how many."""
    nc = await nats.connect(
        servers=[u.strip() for u in nats_url.split(",") if u.strip()], max_reconnect_attempts=-1
    )
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
        await nc.drain()
    return seen

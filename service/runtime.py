"""Composition root: build the adapters, run the scheduler until a signal, clean up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

import nats

from adapters.clock import SystemClock
from adapters.embedded.nats import EmbeddedNats
from adapters.embedded.postgres import EmbeddedPostgres
from adapters.nats.event_target import EventTarget
from adapters.nats.publisher import JetStreamPublisher
from adapters.postgres.database import PostgresDatabase, create_pool
from adapters.postgres.migrate import migrate, pending
from domain.job import TargetKind
from service.app import Scheduler, SchedulerSettings

log = logging.getLogger("kairos")


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


async def serve(database_url: str, nats_url: str, *, ready_line: bool = True) -> None:
    """Run one scheduler replica (leader election, loops, worker pool) until SIGINT/TERM."""
    waiting = await pending(database_url)
    if waiting:
        raise RuntimeError(f"migrations {waiting} are not applied: run `kairos migrate`")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        pool = await create_pool(database_url)
        stack.push_async_callback(pool.close)
        nc = await nats.connect(nats_url, max_reconnect_attempts=-1)
        stack.push_async_callback(nc.drain)
        publisher = JetStreamPublisher(nc)
        await publisher.ensure_stream()
        scheduler = Scheduler(
            PostgresDatabase(pool),
            publisher,
            {TargetKind.EVENT: EventTarget(nc)},
            SystemClock(),
            SchedulerSettings(),
            listen_dsn=database_url,
        )
        ready = asyncio.Event()
        task = asyncio.create_task(scheduler.run(stop, ready))
        await ready.wait()
        if ready_line:
            print(f"kairos ready: database {_redact(database_url)}, nats {nats_url}", flush=True)
        await task
    log.info("stopped")


def dev(root: Path) -> None:
    """The embedded default: own Postgres and nats-server under ``root``, migrated,
    then one scheduler replica until Ctrl-C; the servers stop with it."""
    root.mkdir(parents=True, exist_ok=True)
    postgres = EmbeddedPostgres(root / "postgres")
    server = EmbeddedNats(root / "nats")
    first = not postgres.initialised()
    log.info("%s PostgreSQL under %s", "initialising" if first else "reusing", postgres.data)
    postgres.start()
    try:
        server.start()
        try:
            asyncio.run(migrate(postgres.dsn_for("postgres")))
            asyncio.run(serve(postgres.dsn_for("postgres", "kairos_scheduler"), server.url))
        finally:
            server.stop()
    finally:
        postgres.stop()


def _redact(dsn: str) -> str:
    head, sep, tail = dsn.partition("@")
    return (head.split(":")[0] + ":***@" + tail) if sep and ":" in head.split("//")[-1] else dsn

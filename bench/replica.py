"""One scheduler replica for ``bench/replicas.py``: a ``Scheduler`` with the EVENT target
and the instant path, on the given servers, until SIGTERM.

    python bench/replica.py DSN NATS_URL NAME
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import nats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.clock import SystemClock
from adapters.nats.event_target import EventTarget
from adapters.nats.publisher import JetStreamPublisher
from adapters.postgres.database import PostgresDatabase, create_pool
from adapters.postgres.notifications import PostgresChangeFeed
from bench.burst import CAPACITY
from domain.job import TargetKind
from service.loops.scheduler import Scheduler, SchedulerSettings
from service.runtime.processes import settle_heap


async def main(dsn: str, nats_url: str, name: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    nc = await nats.connect(nats_url)
    pool = await create_pool(dsn, max_size=8)
    try:
        app = Scheduler(
            PostgresDatabase(pool),
            JetStreamPublisher(nc),
            {TargetKind.EVENT: EventTarget(nc)},
            SystemClock(),
            SchedulerSettings(replica=name, worker_capacity=CAPACITY),
            changes=PostgresChangeFeed(dsn),
        )
        ready = asyncio.Event()
        task = asyncio.create_task(app.run(stop, ready))
        await ready.wait()
        settle_heap()
        print("ready", flush=True)
        await task
    finally:
        await pool.close()
        await nc.drain()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))

"""Composition root: build the adapters, run the API, scheduler loops and worker pool
until a signal, clean up.

- ``serve``: one scheduler replica (leader election, materialiser, rescuer, relay, a
  built-in worker pool unless ``worker_capacity`` is 0) plus the REST API.
- ``work``: a worker process only (``kairos worker``): claims and executes runs.
- ``kairos dev`` (``service/runtime/dev.py``) runs ``serve`` on its own servers.

Every value comes from ``Settings`` (``service/settings.py``, read once by the CLI)
through ``ServeOptions`` and ``service/runtime/wiring.py``; the connections are in
``service/runtime/connections.py``. A process started while PostgreSQL or NATS is down
waits for it (not ready, one log line) instead of exiting; an outage later is waited
out by every loop (``service.loops.resilience``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Callable, Coroutine, Generator
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from adapters import logs, tracing
from adapters.auth.tokens import TokenVerifier
from adapters.clock import SystemClock
from adapters.holiday_sources import LibraryHolidayProvider
from adapters.http.api import bearer, create_app
from adapters.http.boundary import MAX_HEAD_BYTES
from adapters.http.ratelimit import RateLimiter
from adapters.metrics import PrometheusMetrics
from adapters.nats import streams
from adapters.nats.event_consumer import EventTriggerConsumer
from adapters.nats.publisher import JetStreamPublisher
from adapters.nats.trigger_responder import TriggerResponder
from adapters.postgres.database import PostgresDatabase, SessionLimits
from adapters.postgres.migrate import pending
from adapters.postgres.notifications import PostgresChangeFeed
from domain.ids import TenantId
from domain.limits import TenantLimits
from service.loops.resilience import Dependencies, Loops, Stopped, retrying, supervise
from service.loops.scheduler import Scheduler, SchedulerSettings
from service.loops.worker_pool import WorkerPool
from service.runtime.connections import (
    api_database,
    as_role,
    connected,
    nats_servers,
    require_schema,
)
from service.runtime.wiring import TargetOptions, executors
from service.settings import Settings
from service.usecases.health import Readiness

__all__ = [
    "ServeOptions",
    "api_config",
    "as_role",
    "nats_servers",
    "redact",
    "serve",
    "work",
]

log = logging.getLogger("kairos")


def configure_logging(settings: Settings) -> None:
    """structlog: JSON lines unless stderr is a terminal (``KAIROS_LOG_FORMAT``
    decides otherwise); spans exported over OTLP when an endpoint is set."""
    chosen = settings.log_format
    logs.configure(json=None if chosen is None else chosen == "json")
    tracing.configure(
        service_name=settings.otel_service_name,
        export=settings.otel_exporter_otlp_endpoint is not None,
    )


@dataclass(frozen=True, slots=True)
class ServeOptions:
    api_host: str = "127.0.0.1"
    api_port: int | None = 8080  # None: no API; 0: any free port
    worker_capacity: int = 32  # 0: no built-in pool
    targets: TargetOptions = field(default_factory=TargetOptions)
    auth: TokenVerifier | None = None  # required when the API is served
    # The API's own database login (kairos_app: tenant transactions only). None: the
    # scheduler's URL with its user swapped for kairos_app.
    api_database_url: str | None = None
    limits: TenantLimits = field(default_factory=TenantLimits)
    limiter: RateLimiter = field(default_factory=lambda: RateLimiter(50.0, 100))
    session: SessionLimits = field(default_factory=SessionLimits)
    stream_replicas: int = 1
    operator: TenantId | None = None  # whose admins see every tenant's usage


class _Api(uvicorn.Server):
    """uvicorn without its own signal handling: the process's stop event rules."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def settle_heap() -> None:
    """Once the process is ready: what start-up allocated (modules, wiring, caches) lives
    as long as the process, so ``gc.freeze`` takes it out of the collector's scans, and a
    higher young-generation threshold makes collections rarer in a burst, where the
    loops allocate short-lived values by the million (the garbage collector was 13 % of
    a burst's Python time)."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


async def _until_signal(
    body: Callable[[asyncio.Event, Callable[[str], None]], Coroutine[Any, Any, None]],
    ready_line: bool,
    quiet_stop: bool = False,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def ready(text: str) -> None:
        settle_heap()
        if ready_line:
            print(f"kairos ready: {text}", flush=True)

    try:
        await body(stop, ready)
    except Stopped as stopped:  # a signal while still waiting for a server
        log.info("stopped while %s", stopped)
    if not quiet_stop:
        log.info("stopped")


async def serve(
    database_url: str,
    nats_url: str,
    options: ServeOptions | None = None,
    *,
    ready_line: bool = True,
    on_ready: Callable[[str], None] | None = None,
    quiet_stop: bool = False,
) -> None:
    """Run one scheduler replica and the API until SIGINT/TERM; ``on_ready`` gets the
    API's URL once everything is up. ``quiet_stop``: no "stopped" line (``kairos dev``
    says it once its servers are stopped too)."""
    opts = options or ServeOptions()
    if opts.api_port is not None and opts.auth is None:
        raise RuntimeError(
            "the API needs token authentication: set KAIROS_AUTH_JWKS_URL or "
            "KAIROS_AUTH_JWKS_FILE, with KAIROS_AUTH_ISSUER and KAIROS_AUTH_AUDIENCE"
        )
    streams.use_replicas(opts.stream_replicas)

    async def body(stop: asyncio.Event, ready: Callable[[str], None]) -> None:
        deps = Dependencies()
        await require_schema(database_url, stop, deps)
        metrics = PrometheusMetrics()  # the loops below report to it; /metrics shows it
        async with (
            connected(database_url, nats_url, stop, deps, opts.session) as (db, nc),
            executors(nc, opts.targets, metrics) as targets,
        ):
            publisher = JetStreamPublisher(nc)
            await retrying("creating the event stream", publisher.ensure_stream, stop, logger=log)
            loops = Loops()
            settings = SchedulerSettings(
                worker_capacity=opts.worker_capacity,
                max_running=opts.limits.max_running,
            )
            scheduler = Scheduler(
                db,
                publisher,
                targets,
                SystemClock(),
                settings,
                changes=PostgresChangeFeed(database_url),
                holidays=LibraryHolidayProvider(),
                loops=loops,
                metrics=metrics,
            )
            responder = TriggerResponder(nc, db)
            await responder.start()  # scheduler.trigger.<tenant>, answered by one replica
            async with contextlib.AsyncExitStack() as stack, asyncio.TaskGroup() as group:
                loops_ready = asyncio.Event()
                group.create_task(scheduler.run(stop, loops_ready))
                consumer = EventTriggerConsumer(nc, db, loops=loops)  # EVENT schedules
                group.create_task(consumer.run(stop))
                api_url = "off"
                if opts.api_port is not None:
                    api_db = await stack.enter_async_context(
                        api_database(opts.api_database_url or as_role(database_url, "kairos_app"))
                    )
                    readiness = Readiness(
                        db,
                        nats_connected=lambda: nc.is_connected,
                        pending_migrations=lambda: pending(database_url),
                        paused=loops.snapshot,
                        lease_ttl=settings.lease_ttl,
                    )
                    api_url = await _start_api(
                        group,
                        api_db,
                        opts,
                        stop,
                        readiness=readiness,
                        metrics=metrics,
                        system_db=db,
                    )
                await loops_ready.wait()
                if on_ready is not None:
                    on_ready(api_url)
                ready(f"api {api_url}, database {redact(database_url)}, nats {nats_url}")

    await _until_signal(body, ready_line, quiet_stop)


def api_config(app: Any, host: str, port: int) -> uvicorn.Config:
    """How the API is served (``kairos serve`` and ``dev``, and the tests that need a
    real socket)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="off",
        # Above the API's own header limit, so an oversized header gets the envelope.
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
    )


async def _start_api(
    group: asyncio.TaskGroup,
    db: PostgresDatabase,
    opts: ServeOptions,
    stop: asyncio.Event,
    *,
    readiness: Readiness,
    metrics: PrometheusMetrics,
    system_db: PostgresDatabase,
) -> str:
    assert opts.api_port is not None
    assert opts.auth is not None
    app = create_app(
        db,
        system_db=system_db,
        auth=bearer(opts.auth),
        secrets=opts.targets.box(),
        addresses=opts.targets.addresses(),
        readiness=readiness,
        metrics=metrics,
        limits=opts.limits,
        limiter=opts.limiter,
        operator=opts.operator,
    )
    server = _Api(api_config(app, opts.api_host, opts.api_port))
    task = group.create_task(server.serve())

    async def shutdown() -> None:
        await stop.wait()
        server.should_exit = True

    group.create_task(shutdown())
    while not server.started:
        if task.done():
            raise RuntimeError(f"the API could not listen on {opts.api_host}:{opts.api_port}")
        await asyncio.sleep(0.01)
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    return f"http://{host}:{port}"


async def work(
    database_url: str,
    nats_url: str,
    *,
    concurrency: int,
    name: str,
    ready_line: bool = True,
    targets: TargetOptions | None = None,
    max_running: int | None = None,
    session: SessionLimits | None = None,
    stream_replicas: int = 1,
) -> None:
    """A worker process: register, claim and execute runs, drain on SIGTERM/SIGINT.
    Started while PostgreSQL or NATS is down, it waits for them; an outage later pauses
    its claiming, never ends the process. ``max_running``: the operator's cap on each
    tenant's running runs (the same as every other claiming process's)."""
    streams.use_replicas(stream_replicas)

    async def body(stop: asyncio.Event, ready: Callable[[str], None]) -> None:
        deps = Dependencies()
        await require_schema(database_url, stop, deps)
        async with (
            connected(database_url, nats_url, stop, deps, session) as (db, nc),
            executors(nc, targets or TargetOptions()) as kinds,
        ):
            workers = WorkerPool(
                db,
                kinds,
                SystemClock(),
                capacity=concurrency,
                name=name,
                max_running=max_running,
            )
            claimed_once = asyncio.Event()  # ready once the pool has made its first claim
            task = asyncio.create_task(
                supervise(
                    f"worker {name}",
                    lambda: workers.run(stop, on_first_pass=claimed_once.set),
                    stop,
                    logger=log,
                )
            )
            first = asyncio.ensure_future(claimed_once.wait())
            await asyncio.wait({task, first}, return_when=asyncio.FIRST_COMPLETED)
            first.cancel()
            if claimed_once.is_set():
                ready(f"worker {name} ({workers.worker_id}), concurrency {concurrency}")
            await task

    await _until_signal(body, ready_line)


def redact(dsn: str) -> str:
    head, sep, tail = dsn.partition("@")
    return (head.split(":")[0] + ":***@" + tail) if sep and ":" in head.split("//")[-1] else dsn

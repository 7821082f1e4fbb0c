"""Composition root: build the adapters, run the API, scheduler loops and worker pool
until a signal, clean up.

- ``serve``: one scheduler replica (leader election, materialiser, rescuer, relay, a
  built-in worker pool unless ``worker_capacity`` is 0) plus the REST API.
- ``work``: a worker process only (``kairos worker``): claims and executes runs.
- ``dev``: the embedded default, own PostgreSQL and nats-server under a data folder.

A process started while PostgreSQL or NATS is down waits for it (not ready, one log
line) instead of exiting; an outage later is waited out by every loop
(``service.loops.resilience``). Stopping stays quick when a server is already gone: the NATS
connection is closed instead of drained, and a failed drain never hides why we stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
from collections.abc import AsyncIterator, Callable, Coroutine, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import nats
import uvicorn
from nats.aio.client import Client

from adapters import logs, tracing
from adapters.auth.tokens import (
    DEFAULT_ALGORITHMS,
    DevKeys,
    JwksKeys,
    KeySource,
    StaticKeys,
    TokenVerifier,
)
from adapters.clock import SystemClock
from adapters.embedded.nats import EmbeddedNats
from adapters.embedded.postgres import EmbeddedPostgres
from adapters.holiday_sources import LibraryHolidayProvider
from adapters.http.api import bearer, create_app
from adapters.http.boundary import MAX_HEAD_BYTES
from adapters.http.ratelimit import RateLimiter
from adapters.http_target.executor import HttpTargetExecutor
from adapters.http_target.ssrf import Network, parse_allowlist
from adapters.metrics import PrometheusMetrics
from adapters.nats import streams
from adapters.nats.event_consumer import EventTriggerConsumer
from adapters.nats.event_target import EventTarget
from adapters.nats.publisher import JetStreamPublisher
from adapters.nats.queue_target import QueueLimits, QueueTarget
from adapters.nats.trigger_responder import TriggerResponder
from adapters.postgres.database import PostgresDatabase, SessionLimits, create_pool
from adapters.postgres.migrate import migrate, pending
from adapters.postgres.notifications import PostgresChangeFeed
from adapters.postgres.outage import translated
from adapters.secrets import ENV_KEY, FernetSecretBox, key_file
from domain.ids import TenantId, parse_tenant
from domain.job import TargetKind
from domain.limits import TenantLimits
from domain.ports import TargetExecutor
from service.loops.resilience import (
    Dependencies,
    Loops,
    Stopped,
    describe,
    is_transient,
    retrying,
    supervise,
)
from service.loops.scheduler import Scheduler, SchedulerSettings
from service.loops.worker_pool import WorkerPool
from service.usecases.health import Readiness

log = logging.getLogger("kairos")

POSTGRES, NATS = "postgres", "nats"
CLOSE_TIMEOUT = 5.0  # closing a connection to a server that is gone must not hang a stop


def configure_logging() -> None:
    """structlog: JSON lines unless stderr is a terminal (``KAIROS_LOG_FORMAT=json|console``
    decides otherwise)."""
    chosen = os.environ.get("KAIROS_LOG_FORMAT")
    logs.configure(json=None if chosen is None else chosen == "json")
    tracing.configure(os.environ)  # OTLP export when OTEL_EXPORTER_OTLP_ENDPOINT is set


@dataclass(frozen=True, slots=True)
class TargetOptions:
    """How targets are reached (from the environment, see ``from_env``)."""

    secret_key: str | None = None  # KAIROS_SECRET_KEY: seals HTTP signing secrets
    http_allow: tuple[Network, ...] = ()  # KAIROS_HTTP_ALLOW: SSRF guard exceptions
    queue_limits: QueueLimits = field(default_factory=QueueLimits)

    @classmethod
    def from_env(cls, environ: Mapping[str, str], secret_key: str | None = None) -> TargetOptions:
        """``KAIROS_SECRET_KEY`` (Fernet keys, comma-separated, first seals),
        ``KAIROS_HTTP_ALLOW`` (addresses or CIDRs HTTP targets may reach although
        private), ``KAIROS_QUEUE_MAX_MSGS|MAX_BYTES|MAX_AGE_SECONDS`` (per-tenant
        work-queue stream limits). ``secret_key`` is the fallback (``kairos dev``'s)."""
        defaults = QueueLimits()
        try:
            limits = QueueLimits(
                max_msgs=int(environ.get("KAIROS_QUEUE_MAX_MSGS", defaults.max_msgs)),
                max_bytes=int(environ.get("KAIROS_QUEUE_MAX_BYTES", defaults.max_bytes)),
                max_age=timedelta(
                    seconds=float(
                        environ.get(
                            "KAIROS_QUEUE_MAX_AGE_SECONDS", defaults.max_age.total_seconds()
                        )
                    )
                ),
            )
        except ValueError as exc:
            raise ValueError(f"KAIROS_QUEUE_* must be numbers: {exc}") from None
        return cls(
            secret_key=environ.get(ENV_KEY) or secret_key,
            http_allow=parse_allowlist(environ.get("KAIROS_HTTP_ALLOW", "")),
            queue_limits=limits,
        )

    def box(self) -> FernetSecretBox | None:
        return FernetSecretBox(self.secret_key) if self.secret_key else None


def auth_from_env(environ: Mapping[str, str]) -> TokenVerifier | None:
    """The API's token verifier from ``KAIROS_AUTH_*`` (None when none is configured):
    keys from ``KAIROS_AUTH_JWKS_URL`` or a JWKS file ``KAIROS_AUTH_JWKS_FILE``;
    ``KAIROS_AUTH_ISSUER`` and ``KAIROS_AUTH_AUDIENCE`` required; optional
    ``KAIROS_AUTH_TENANT_CLAIM`` (``tenant``), ``KAIROS_AUTH_SCOPE_CLAIM`` (``scope``),
    ``KAIROS_AUTH_ALGORITHMS`` (``RS256,ES256,EdDSA``)."""
    url, file = environ.get("KAIROS_AUTH_JWKS_URL"), environ.get("KAIROS_AUTH_JWKS_FILE")
    if not url and not file:
        return None
    keys: KeySource = JwksKeys(url) if url else StaticKeys.from_file(Path(file or ""))
    algorithms = environ.get("KAIROS_AUTH_ALGORITHMS", ",".join(DEFAULT_ALGORITHMS))
    return TokenVerifier(
        keys,
        issuer=environ.get("KAIROS_AUTH_ISSUER", ""),
        audience=environ.get("KAIROS_AUTH_AUDIENCE", ""),
        algorithms=tuple(a.strip() for a in algorithms.split(",") if a.strip()),
        tenant_claim=environ.get("KAIROS_AUTH_TENANT_CLAIM", "tenant"),
        scope_claim=environ.get("KAIROS_AUTH_SCOPE_CLAIM", "scope"),
    )


def limits_from_env(environ: Mapping[str, str]) -> tuple[TenantLimits, RateLimiter]:
    """Quotas and API rate limits, the same for every tenant: ``KAIROS_MAX_SCHEDULES``
    (1000), ``KAIROS_MIN_INTERVAL_SECONDS`` (1), ``KAIROS_MAX_PAYLOAD_BYTES`` (65536),
    ``KAIROS_MAX_RUNNING`` runs running at once (unset: no cap; every process that
    claims runs must be given the same), ``KAIROS_RATE_LIMIT`` requests/s (50) with
    ``KAIROS_RATE_BURST`` (100)."""
    default = TenantLimits()
    try:
        limits = TenantLimits(
            max_schedules=int(environ.get("KAIROS_MAX_SCHEDULES", default.max_schedules)),
            min_interval=timedelta(
                seconds=float(
                    environ.get("KAIROS_MIN_INTERVAL_SECONDS", default.min_interval.total_seconds())
                )
            ),
            max_payload_bytes=int(
                environ.get("KAIROS_MAX_PAYLOAD_BYTES", default.max_payload_bytes)
            ),
            max_running=_positive(environ.get("KAIROS_MAX_RUNNING")),
        )
        limiter = RateLimiter(
            float(environ.get("KAIROS_RATE_LIMIT", 50)),
            int(environ.get("KAIROS_RATE_BURST", 100)),
        )
    except ValueError as exc:
        raise ValueError(f"KAIROS_MAX_*/KAIROS_RATE_*: {exc}") from None
    return limits, limiter


def _operator(value: str | None) -> TenantId | None:
    """``KAIROS_OPERATOR_TENANT``: the tenant whose admins see every tenant's usage."""
    return parse_tenant(value.strip()) if value and value.strip() else None


def _positive(value: str | None) -> int | None:
    if value is None or not value.strip():
        return None
    number = int(value)
    if number < 1:
        raise ValueError(f"{value!r} must be at least 1")
    return number


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


@contextlib.asynccontextmanager
async def executors(
    nc: Client, targets: TargetOptions
) -> AsyncIterator[dict[TargetKind, TargetExecutor]]:
    """The process's target executors (EVENT, QUEUE, HTTP); HTTP clients closed on exit."""
    http = HttpTargetExecutor(targets.box(), SystemClock(), allow=targets.http_allow)
    try:
        yield {
            TargetKind.EVENT: EventTarget(nc),
            TargetKind.QUEUE: QueueTarget(nc, targets.queue_limits),
            TargetKind.HTTP: http,
        }
    finally:
        await http.aclose()


class _Api(uvicorn.Server):
    """uvicorn without its own signal handling: the process's stop event rules."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def _until_signal(
    body: Callable[[asyncio.Event, Callable[[str], None]], Coroutine[Any, Any, None]],
    ready_line: bool,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def ready(text: str) -> None:
        if ready_line:
            print(f"kairos ready: {text}", flush=True)

    try:
        await body(stop, ready)
    except Stopped as stopped:  # a signal while still waiting for a server
        log.info("stopped while %s", stopped)
    log.info("stopped")


@contextlib.asynccontextmanager
async def _connected(
    database_url: str, nats_url: str, stop: asyncio.Event, deps: Dependencies
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
        lambda: _create_pool(database_url),
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


def stream_replicas(environ: Mapping[str, str]) -> int:
    """``KAIROS_NATS_STREAM_REPLICAS``: on how many servers each of Kairos' streams is
    kept (default 1; 3 in a three-node cluster)."""
    raw = environ.get("KAIROS_NATS_STREAM_REPLICAS", "1")
    try:
        count = int(raw)
    except ValueError:
        raise RuntimeError(f"KAIROS_NATS_STREAM_REPLICAS must be 1 to 5, not {raw!r}") from None
    if not 1 <= count <= 5:
        raise RuntimeError(f"KAIROS_NATS_STREAM_REPLICAS must be 1 to 5, not {count}")
    return count


def as_role(dsn: str, role: str) -> str:
    """``dsn`` with its user name replaced by ``role`` (password, host and options kept)."""
    parts = urlsplit(dsn)
    credentials, at, host = parts.netloc.rpartition("@")
    password = credentials.partition(":")[2] if at else ""
    netloc = f"{role}{':' + password if password else ''}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


@contextlib.asynccontextmanager
async def _api_database(url: str) -> AsyncIterator[PostgresDatabase]:
    """The API's pool, as a role that cannot act for every tenant: one that is a
    member of kairos_system (the scheduler's) is refused, so a misconfigured URL stops
    the start instead of weakening tenant isolation."""
    pool = await create_pool(url, name="kairos-api")
    try:
        async with pool.acquire() as conn:
            user, system = await conn.fetchrow(
                "SELECT session_user, pg_has_role(session_user, 'kairos_system', 'MEMBER')"
            )
        if system:
            raise RuntimeError(
                f"the API's database role {user!r} can act for every tenant; connect the "
                "API as kairos_app (KAIROS_API_DATABASE_URL)"
            )
        log.info("api connects to the database as %s", user)
        yield PostgresDatabase(pool)
    finally:
        await pool.close()


async def _create_pool(database_url: str) -> Any:
    with translated(timeouts=True):
        return await create_pool(
            database_url, limits=SessionLimits.from_env(os.environ), name="kairos-scheduler"
        )


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


async def _require_schema(database_url: str, stop: asyncio.Event, deps: Dependencies) -> None:
    """No pending migration; while PostgreSQL is down, wait for it."""

    async def check() -> Sequence[int]:
        with translated(timeouts=True):
            return await pending(database_url)

    waiting = await retrying(
        "checking migrations", check, stop, dependencies=deps, dependency=POSTGRES, logger=log
    )
    if waiting:
        raise RuntimeError(f"migrations {waiting} are not applied: run `kairos migrate`")


async def serve(
    database_url: str,
    nats_url: str,
    options: ServeOptions | None = None,
    *,
    ready_line: bool = True,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Run one scheduler replica and the API until SIGINT/TERM; ``on_ready`` gets the
    API's URL once everything is up."""
    opts = options or ServeOptions()
    if opts.api_port is not None and opts.auth is None:
        raise RuntimeError(
            "the API needs token authentication: set KAIROS_AUTH_JWKS_URL or "
            "KAIROS_AUTH_JWKS_FILE, with KAIROS_AUTH_ISSUER and KAIROS_AUTH_AUDIENCE"
        )
    limits, limiter = limits_from_env(os.environ)  # read once; a bad value stops us here
    streams.use_replicas(stream_replicas(os.environ))

    async def body(stop: asyncio.Event, ready: Callable[[str], None]) -> None:
        deps = Dependencies()
        await _require_schema(database_url, stop, deps)
        async with (
            _connected(database_url, nats_url, stop, deps) as (db, nc),
            executors(nc, opts.targets) as targets,
        ):
            publisher = JetStreamPublisher(nc)
            await retrying("creating the event stream", publisher.ensure_stream, stop, logger=log)
            loops = Loops()
            metrics = PrometheusMetrics()  # the loops below report to it; /metrics shows it
            settings = SchedulerSettings(
                worker_capacity=opts.worker_capacity,
                max_running=limits.max_running,
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
                        _api_database(opts.api_database_url or as_role(database_url, "kairos_app"))
                    )
                    readiness = Readiness(
                        db,
                        nats_connected=lambda: nc.is_connected,
                        pending_migrations=lambda: pending(database_url),
                        paused=loops.snapshot,
                    )
                    api_url = await _start_api(
                        group,
                        api_db,
                        opts,
                        stop,
                        readiness=readiness,
                        metrics=metrics,
                        limits=limits,
                        limiter=limiter,
                        system_db=db,
                    )
                await loops_ready.wait()
                if on_ready is not None:
                    on_ready(api_url)
                ready(f"api {api_url}, database {_redact(database_url)}, nats {nats_url}")

    await _until_signal(body, ready_line)


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
    limits: TenantLimits,
    limiter: RateLimiter,
    system_db: PostgresDatabase,
) -> str:
    assert opts.api_port is not None
    assert opts.auth is not None
    app = create_app(
        db,
        system_db=system_db,
        auth=bearer(opts.auth),
        secrets=opts.targets.box(),
        readiness=readiness,
        metrics=metrics,
        limits=limits,
        limiter=limiter,
        operator=_operator(os.environ.get("KAIROS_OPERATOR_TENANT")),
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
) -> None:
    """A worker process: register, claim and execute runs, drain on SIGTERM/SIGINT.
    Started while PostgreSQL or NATS is down, it waits for them; an outage later pauses
    its claiming, never ends the process."""
    max_running = limits_from_env(os.environ)[0].max_running  # a bad value stops us here
    streams.use_replicas(stream_replicas(os.environ))

    async def body(stop: asyncio.Event, ready: Callable[[str], None]) -> None:
        deps = Dependencies()
        await _require_schema(database_url, stop, deps)
        async with (
            _connected(database_url, nats_url, stop, deps) as (db, nc),
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
            task = asyncio.create_task(
                supervise(f"worker {name}", lambda: workers.run(stop), stop, logger=log)
            )
            ready(f"worker {name} ({workers.worker_id}), concurrency {concurrency}")
            await task

    await _until_signal(body, ready_line)


ENV_FILE = "env"


def read_dev_env(root: Path) -> dict[str, str]:
    """What a running ``kairos dev`` wrote for the other commands (URLs of its servers)."""
    try:
        lines = (root / ENV_FILE).read_text().splitlines()
    except OSError:
        return {}
    return dict(line.split("=", 1) for line in lines if "=" in line)


def dev(root: Path, options: ServeOptions | None = None) -> None:
    """The embedded default: own Postgres and nats-server under ``root``, migrated,
    then one scheduler replica with the API until Ctrl-C; the servers stop with it.

    ``root/env`` records the servers' URLs so ``kairos apply``, ``kairos events tail``
    and ``kairos worker`` started from the same folder find them without flags."""
    root.mkdir(parents=True, exist_ok=True)
    postgres = EmbeddedPostgres(root / "postgres")
    server = EmbeddedNats(root / "nats")
    first = not postgres.initialised()
    log.info("%s PostgreSQL under %s", "initialising" if first else "reusing", postgres.data)
    postgres.start()
    try:
        server.start()
        targets = TargetOptions.from_env(os.environ, secret_key=key_file(root))
        # Auth is on, like production: the folder's own keys unless KAIROS_AUTH_* says
        # otherwise; `kairos token` mints tokens with them.
        verifier = auth_from_env(os.environ) or DevKeys(root / "auth").ensure().verifier()
        opts = dataclasses.replace(options or ServeOptions(), targets=targets, auth=verifier)
        try:
            asyncio.run(migrate(postgres.dsn_for("postgres")))
            dsn = postgres.dsn_for("postgres", "kairos_scheduler")
            api_dsn = postgres.dsn_for("postgres", "kairos_app")
            opts = dataclasses.replace(opts, api_database_url=api_dsn)

            def record(api_url: str) -> None:
                (root / ENV_FILE).write_text(
                    f"KAIROS_DATABASE_URL={dsn}\nKAIROS_NATS_URL={server.url}\n"
                    f"KAIROS_API_URL={api_url}\n"
                )

            asyncio.run(serve(dsn, server.url, opts, on_ready=record))
        finally:
            server.stop()
    finally:
        postgres.stop()


def _redact(dsn: str) -> str:
    head, sep, tail = dsn.partition("@")
    return (head.split(":")[0] + ":***@" + tail) if sep and ":" in head.split("//")[-1] else dsn

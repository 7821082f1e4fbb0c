"""The ``kairos`` commands that run here: dev, serve, worker, apply, events tail,
migrate, token, ui."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from pathlib import Path

import yaml

from adapters.auth.tokens import DevKeys, TokenVerifier
from adapters.nats.tail import tail
from adapters.postgres.database import PostgresDatabase, create_pool
from adapters.postgres.migrate import MigrationError, migrate
from domain.access import Scope
from domain.durations import parse_duration
from domain.errors import InvalidRequest, StorageError
from domain.ids import SYSTEM_TENANT, parse_tenant
from service.runtime.dev import dev, read_dev_env
from service.runtime.processes import ServeOptions, configure_logging, serve, work
from service.runtime.wiring import (
    TargetOptions,
    operator,
    rate_limiter,
    session_limits,
    target_options,
    tenant_limits,
    verifier,
)
from service.settings import Settings
from service.usecases.apply import Change, apply


def _dev(args: argparse.Namespace) -> int:
    settings: Settings = args.settings
    configure_logging(settings)
    dev(Path(args.data), settings, _serve_options(settings, args, worker_capacity=32))
    return 0


def _serve_options(
    settings: Settings, args: argparse.Namespace, *, worker_capacity: int
) -> ServeOptions:
    """What ``serve`` (and ``dev``) run with: the flags, and the settings turned into
    the adapters' objects (a bad value is an InvalidRequest naming it)."""
    try:
        limiter = rate_limiter(settings)
        return ServeOptions(
            api_host=args.api_host,
            api_port=args.api_port,
            worker_capacity=worker_capacity,
            targets=_targets(settings),
            auth=_auth(settings),
            api_database_url=args.api_database_url,
            limits=tenant_limits(settings),
            limiter=limiter,
            session=session_limits(settings),
            stream_replicas=settings.nats_stream_replicas,
            operator=operator(settings),
        )
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None


def _auth(settings: Settings) -> TokenVerifier | None:
    try:
        return verifier(settings)
    except (ValueError, OSError) as exc:
        raise InvalidRequest(f"KAIROS_AUTH_*: {exc}") from None


def _targets(settings: Settings) -> TargetOptions:
    """Target settings; the secret key falls back to the one a `kairos dev` in this
    folder generated."""
    dev_key = Path(".kairos") / "secret.key"
    fallback = dev_key.read_text().strip() if dev_key.exists() else None
    try:
        return target_options(settings, fallback_key=fallback)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None


def _token(args: argparse.Namespace) -> int:
    """A token signed with the keys `kairos dev` made under its folder."""
    keys = DevKeys(Path(args.data) / "auth")
    if not (keys.folder / "signing.pem").exists():
        raise InvalidRequest(f"no dev keys under {keys.folder}: start `kairos dev` there first")
    ttl = parse_duration(args.ttl, field="ttl")
    print(keys.mint(parse_tenant(args.tenant), args.scope, ttl=ttl, now=time.time()))
    return 0


def _need_servers(args: argparse.Namespace) -> None:
    if not args.database_url or not args.nats_url:
        raise InvalidRequest("give --database-url and --nats-url (or KAIROS_DATABASE_URL/NATS_URL)")


def _serve(args: argparse.Namespace) -> int:
    _need_servers(args)
    if args.workers < 0:
        raise InvalidRequest("--workers must be 0 or more")
    settings: Settings = args.settings
    configure_logging(settings)
    opts = _serve_options(settings, args, worker_capacity=args.workers)
    try:
        asyncio.run(serve(args.database_url, args.nats_url, opts))
    except (RuntimeError, OSError) as exc:
        # A database that refuses what Kairos needs (a transaction-mode pooler, a role
        # without rights) is a configuration error: one line, no traceback.
        print(f"kairos serve: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


def _worker(args: argparse.Namespace) -> int:
    _need_servers(args)
    if args.concurrency < 1:
        raise InvalidRequest("--concurrency must be at least 1")
    settings: Settings = args.settings
    configure_logging(settings)
    try:
        asyncio.run(
            work(
                args.database_url,
                args.nats_url,
                concurrency=args.concurrency,
                name=args.name,
                targets=_targets(settings),
                max_running=settings.max_running,
                session=session_limits(settings),
                stream_replicas=settings.nats_stream_replicas,
            )
        )
    except (RuntimeError, OSError) as exc:
        print(f"kairos worker: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


def _apply(args: argparse.Namespace) -> int:
    if not args.database_url:
        raise InvalidRequest(
            "no database: give --database-url, set KAIROS_DATABASE_URL or start `kairos dev`"
        )
    tenant = parse_tenant(args.tenant)
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
    except OSError as exc:
        raise InvalidRequest(f"cannot read {args.file}: {exc.strerror}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidRequest(f"{args.file} is not valid YAML: {exc}".replace("\n", " ")) from None

    async def run() -> list[Change]:
        pool = await create_pool(args.database_url, max_size=2)
        try:
            return await apply(PostgresDatabase(pool), tenant_id=tenant, document=document)
        finally:
            await pool.close()

    try:
        changes = asyncio.run(run())
    except (OSError, StorageError) as exc:
        print(f"kairos apply: error: {exc}", file=sys.stderr)
        return 1
    for change in changes:
        print(f"{change.kind} {change.name}: {change.outcome.value}")
    return 0


def _events(args: argparse.Namespace) -> int:
    if not args.nats_url:
        raise InvalidRequest("no NATS: give --nats-url, set KAIROS_NATS_URL or start `kairos dev`")

    async def run() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return await tail(
            args.nats_url,
            # The built-in pools' worker events are under the reserved SYSTEM_TENANT.
            tenant=None
            if not args.tenant
            else args.tenant
            if args.tenant == SYSTEM_TENANT
            else parse_tenant(args.tenant),
            count=args.count,
            raw=args.raw,
            out=lambda line: print(line, flush=True),
            stop=stop,
        )

    try:
        asyncio.run(run())
    except (OSError, TimeoutError) as exc:
        print(f"kairos events: error: {exc}", file=sys.stderr)
        return 1
    return 0


def _migrate(args: argparse.Namespace) -> int:
    if not args.database_url:
        raise InvalidRequest("no database: give --database-url or set KAIROS_DATABASE_URL")
    try:
        applied = asyncio.run(migrate(args.database_url))
    except MigrationError as exc:
        raise InvalidRequest(str(exc)) from None
    except (OSError, StorageError) as exc:
        print(f"kairos migrate: error: {exc}", file=sys.stderr)
        return 1
    print(f"applied {len(applied)} migration(s)" + (f": {applied}" if applied else ""))
    return 0


def _ui(args: argparse.Namespace) -> int:
    """A sign-in link for the dashboard: a token minted with the dev keys, in the link's
    fragment (browsers never send it to a server; the sign-in page posts it once)."""
    keys = DevKeys(Path(args.data) / "auth")
    if not (keys.folder / "signing.pem").exists():
        raise InvalidRequest(f"no dev keys under {keys.folder}: start `kairos dev` there first")
    url = args.url or read_dev_env(Path(args.data)).get("KAIROS_API_URL")
    if not url:
        raise InvalidRequest("no running `kairos dev` found here: pass --url")
    ttl = parse_duration(args.ttl, field="ttl")
    scopes = args.scope or [Scope.OPERATE.value]
    token = keys.mint(parse_tenant(args.tenant), scopes, ttl=ttl, now=time.time())
    print(f"{url.rstrip('/')}/ui/signin#token={token}")
    return 0

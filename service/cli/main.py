"""The ``kairos`` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import NoReturn
from uuid import UUID

import yaml

from adapters.auth.tokens import DevKeys, TokenVerifier
from adapters.clock import SystemClock
from adapters.holiday_sources import LibraryHolidayProvider
from adapters.nats.tail import tail
from adapters.postgres.database import PostgresDatabase, create_pool
from adapters.postgres.migrate import MigrationError, migrate
from adapters.zoneinfo_source import describe, zone_source_named
from domain.access import Scope
from domain.calendar import BusinessCalendar, Calendar, CountryHolidays, Holiday, ICalHolidays
from domain.durations import parse_duration, parse_instant
from domain.errors import DomainError, InvalidRequest, InvalidSchedule, StorageError
from domain.firing import FoldPolicy, GapPolicy
from domain.ids import SYSTEM_TENANT, CalendarId, TenantId, parse_tenant
from domain.timing import CalendarPolicy, DstPolicy, Timing, WindowPolicy
from domain.triggers import (
    CronTrigger,
    DelayMode,
    FixedDelayTrigger,
    OneShotTrigger,
    RRuleTrigger,
    Trigger,
)
from domain.windows import ExecutionWindow, parse_weekdays
from domain.zones import get_zone, tzdata_version, use_zone_source
from service._version import __version__
from service.cli import operate
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
from service.settings import Settings, SettingsError
from service.usecases.apply import Change, apply
from service.usecases.preview import Preview, fire_json, preview, truncate_to_minute, utc_text
from service.usecases.tzdata import ZoneRulesReport, render_report, zone_rules_report

EXIT_USAGE = 2
_MAX_COUNT = 100_000


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag on one line and exits 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _build_parser(settings: Settings) -> _Parser:
    parser = _Parser(prog="kairos", description="Kairos scheduler")
    parser.add_argument(
        "--version", action="store_true", help="print Kairos' version and its tzdata, then exit"
    )
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    nxt = sub.add_parser(
        "next",
        help="preview a schedule's next fires (no server needed)",
        description="Preview fire times exactly as the scheduler computes them.",
    )
    rule = nxt.add_mutually_exclusive_group(required=True)
    rule.add_argument(
        "--cron", metavar="EXPR", help="5 or 6 (leading seconds) fields, or @daily..."
    )
    rule.add_argument("--rrule", metavar="TEXT", help="RFC 5545 RRULE (+RDATE/EXDATE lines)")
    rule.add_argument("--every", metavar="DURATION", help="fixed delay: PT15M, 900, 15m")
    rule.add_argument("--at", metavar="INSTANT", help="one shot: 2026-03-29T02:30 or with offset")
    nxt.add_argument("--mode", choices=[m.value for m in DelayMode], default="rate")
    nxt.add_argument("--tz", default="UTC", metavar="ZONE", help="IANA zone (default UTC)")
    nxt.add_argument("--from", dest="start", metavar="INSTANT", help="first instant (default now)")
    nxt.add_argument("--count", type=int, default=10, metavar="N")
    nxt.add_argument("--start-at", metavar="INSTANT")
    nxt.add_argument("--end-at", metavar="INSTANT")
    nxt.add_argument("--max-fires", type=int, metavar="N")
    nxt.add_argument("--dst-gap", choices=[g.value for g in GapPolicy])
    nxt.add_argument("--dst-fold", choices=[f.value for f in FoldPolicy])
    nxt.add_argument(
        "--holidays",
        action="append",
        default=[],
        metavar="COUNTRY[-SUBDIVISION]",
        help="public holidays from the holidays package, e.g. DE-BY (repeatable)",
    )
    nxt.add_argument(
        "--holiday",
        action="append",
        default=[],
        metavar="DATE[=NAME]",
        help="an explicit holiday (repeatable)",
    )
    nxt.add_argument("--ical", metavar="FILE", help="holidays from an iCalendar file")
    nxt.add_argument("--business-days", metavar="DAYS", help="business weekdays (default mon-fri)")
    nxt.add_argument("--calendar-policy", choices=[p.value for p in CalendarPolicy], default="skip")
    nxt.add_argument(
        "--window",
        action="append",
        default=[],
        metavar="'DAYS HH:MM-HH:MM'",
        help="execution window, e.g. 'mon-fri 08:00-18:00' (repeatable)",
    )
    nxt.add_argument("--window-policy", choices=[p.value for p in WindowPolicy], default="defer")
    nxt.add_argument("--jitter", metavar="DURATION", help="max jitter (needs --schedule-id)")
    nxt.add_argument("--schedule-id", metavar="ID")
    nxt.add_argument("--include-skipped", action="store_true", help="also list skipped fires")
    nxt.add_argument("--json", action="store_true", help="JSON array instead of a table")
    mig = sub.add_parser(
        "migrate",
        help="apply pending database migrations (idempotent, safe to run concurrently)",
    )
    mig.add_argument(
        "--database-url",
        default=settings.database_url,
        help="owner DSN (default: $KAIROS_DATABASE_URL)",
    )
    dev = sub.add_parser(
        "dev", help="run Kairos with its own PostgreSQL and nats-server under ./.kairos/"
    )
    dev.add_argument("--data", default=".kairos", help="data folder (default ./.kairos)")
    _api_flags(dev, settings)
    srv = sub.add_parser("serve", help="run a scheduler replica (and the API) on given servers")
    _server_flags(srv, settings)
    _api_flags(srv, settings)
    srv.add_argument(
        "--workers",
        type=int,
        default=32,
        metavar="N",
        help="built-in worker pool concurrency (0: leave runs to `kairos worker`)",
    )
    wrk = sub.add_parser("worker", help="run a worker process that claims and executes runs")
    _server_flags(wrk, settings)
    wrk.add_argument("--concurrency", type=int, default=16, metavar="N")
    wrk.add_argument("--name", default=f"worker-{os.getpid()}", help="shown in events")
    app = sub.add_parser("apply", help="create or update jobs and schedules from a YAML file")
    app.add_argument("-f", "--file", required=True, help="YAML document (- for stdin)")
    app.add_argument("--tenant", required=True)
    app.add_argument(
        "--database-url",
        default=_default(settings.database_url, "KAIROS_DATABASE_URL"),
        help="DSN (default: $KAIROS_DATABASE_URL, else the running `kairos dev`)",
    )
    tok = sub.add_parser("token", help="mint an API token for the embedded dev stack")
    tok.add_argument("--tenant", required=True)
    tok.add_argument(
        "--scope",
        action="append",
        choices=[s.value for s in Scope],
        required=True,
        help="repeatable: scheduler:read, scheduler:operate, scheduler:admin",
    )
    tok.add_argument("--ttl", default="PT12H", help="lifetime (default PT12H)")
    tok.add_argument("--data", default=".kairos", help="the dev stack's folder (./.kairos)")
    ui = sub.add_parser(
        "ui",
        help="print a link that signs you in to the dashboard of the running `kairos dev`",
    )
    ui.add_argument("--tenant", required=True)
    ui.add_argument(
        "--scope",
        action="append",
        choices=[s.value for s in Scope],
        help="repeatable (default: scheduler:operate)",
    )
    ui.add_argument("--ttl", default="PT12H", help="the session's lifetime (default PT12H)")
    ui.add_argument("--data", default=".kairos", help="the dev stack's folder (./.kairos)")
    ui.add_argument("--url", help="the API's URL (default: the running `kairos dev`'s)")
    tz = sub.add_parser(
        "tzdata",
        help="this process's zone rules and, with a database, the schedules a change re-planned",
        description="The tzdata release of this process's zone rules (KAIROS_ZONEINFO: "
        "system, package or a directory); with a database, the release the deployment "
        "planned with and every schedule whose next fire a change of rules moved.",
    )
    tz.add_argument(
        "--database-url",
        default=_default(settings.database_url, "KAIROS_DATABASE_URL"),
        help="DSN of the kairos_scheduler role (default: $KAIROS_DATABASE_URL, else the "
        "running `kairos dev`; none: only this process's version)",
    )
    tz.add_argument("--limit", type=int, default=100, metavar="N")
    tz.add_argument("--json", action="store_true", help="JSON instead of text")
    events = sub.add_parser("events", help="watch Kairos domain events")
    events_sub = events.add_subparsers(dest="events_command", required=True, parser_class=_Parser)
    tail = events_sub.add_parser("tail", help="print events as they are published")
    tail.add_argument("--tenant", help="only this tenant's events")
    tail.add_argument("--count", type=int, metavar="N", help="exit after N events")
    tail.add_argument("--raw", action="store_true", help="print whole CloudEvents JSON")
    tail.add_argument(
        "--nats-url",
        default=_default(settings.nats_url, "KAIROS_NATS_URL"),
        help="NATS URL (default: $KAIROS_NATS_URL, else the running `kairos dev`)",
    )
    operate.add_event_commands(events_sub)
    operate.add_commands(sub)
    return parser


def _default(value: str | None, name: str) -> str | None:
    """A setting, else what a `kairos dev` running here recorded for ``name``."""
    return value or read_dev_env(Path(".kairos")).get(name)


def _server_flags(parser: argparse.ArgumentParser, settings: Settings) -> None:
    parser.add_argument(
        "--database-url",
        default=_default(settings.database_url, "KAIROS_DATABASE_URL"),
        help="DSN of the kairos_scheduler role (default: $KAIROS_DATABASE_URL)",
    )
    parser.add_argument(
        "--nats-url",
        default=_default(settings.nats_url, "KAIROS_NATS_URL"),
        help="NATS URL (default: $KAIROS_NATS_URL)",
    )


def _api_flags(parser: argparse.ArgumentParser, settings: Settings) -> None:
    parser.add_argument("--api-host", default="127.0.0.1", help="API address (default 127.0.0.1)")
    parser.add_argument(
        "--api-database-url",
        default=settings.api_database_url,
        help="DSN of the kairos_app role the API uses (default: $KAIROS_API_DATABASE_URL, "
        "else --database-url with its user swapped for kairos_app)",
    )
    parser.add_argument("--api-port", type=int, default=8080, help="API port (0: any free port)")


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


def _trigger(args: argparse.Namespace) -> Trigger:
    if args.cron is not None:
        return CronTrigger.parse(args.cron)
    if args.rrule is not None:
        return RRuleTrigger.parse(args.rrule.replace("\\n", "\n"))
    if args.every is not None:
        return FixedDelayTrigger(
            every=parse_duration(args.every, field="every"), mode=DelayMode(args.mode)
        )
    return OneShotTrigger.parse(args.at)


def _calendar(args: argparse.Namespace, now: datetime) -> BusinessCalendar | None:
    if not (args.holidays or args.holiday or args.ical or args.business_days):
        return None
    sources: list[CountryHolidays | ICalHolidays] = [
        CountryHolidays.parse(text) for text in args.holidays
    ]
    if args.ical:
        try:
            with open(args.ical, encoding="utf-8") as handle:
                sources.append(ICalHolidays(text=handle.read()))
        except OSError as exc:
            raise InvalidSchedule("ical", f"cannot read {args.ical}: {exc.strerror}") from None
    explicit = []
    for text in args.holiday:
        day, _, name = text.partition("=")
        try:
            explicit.append(Holiday(day=datetime.fromisoformat(day).date(), name=name or "holiday"))
        except ValueError:
            raise InvalidSchedule("holiday", f"{day!r} is not a date (YYYY-MM-DD)") from None
    calendar = Calendar(
        id=CalendarId(UUID(int=0)),
        tenant_id=TenantId("preview"),
        name="preview",
        business_days=parse_weekdays(args.business_days, field="business-days")
        if args.business_days
        else frozenset(range(5)),
        holidays=tuple(explicit),
        sources=tuple(sources),
        created_at=now,
        updated_at=now,
    )
    provider = LibraryHolidayProvider()
    for source in sources:
        provider.validate(source)
    return BusinessCalendar(calendar, provider)


def _next(args: argparse.Namespace) -> int:
    if not 1 <= args.count <= _MAX_COUNT:
        raise InvalidSchedule("count", f"must be between 1 and {_MAX_COUNT}")
    if args.jitter and not args.schedule_id:
        raise InvalidSchedule("jitter", "needs --schedule-id (jitter is derived from it)")
    zone = get_zone(args.tz)
    now = SystemClock().now()
    start = parse_instant(args.start, field="from", tz=zone.tzinfo) if args.start else now
    trigger = _trigger(args)
    start_at = (
        parse_instant(args.start_at, field="start-at", tz=zone.tzinfo) if args.start_at else None
    )
    if start_at is None and isinstance(trigger, FixedDelayTrigger):
        start_at = start
    if (
        start_at is None
        and isinstance(trigger, RRuleTrigger)
        and trigger.recurrence.dtstart is None
    ):
        start_at = truncate_to_minute(start)
    timing = Timing(
        trigger=trigger,
        timezone=args.tz,
        dst=DstPolicy(
            gap=GapPolicy(args.dst_gap) if args.dst_gap else None,
            fold=FoldPolicy(args.dst_fold) if args.dst_fold else None,
        ),
        start_at=start_at,
        end_at=parse_instant(args.end_at, field="end-at", tz=zone.tzinfo) if args.end_at else None,
        max_fires=args.max_fires,
        calendar_policy=CalendarPolicy(args.calendar_policy),
        windows=tuple(ExecutionWindow.parse(text) for text in args.window),
        window_policy=WindowPolicy(args.window_policy),
        max_jitter=parse_duration(args.jitter, field="jitter")
        if args.jitter
        else parse_duration("0"),
    )
    result = preview(
        timing,
        start=start,
        count=args.count,
        calendar=_calendar(args, now),
        schedule_id=args.schedule_id,
        include_skipped=args.include_skipped,
    )
    if args.json:
        print(json.dumps([fire_json(fire) for fire in result.fires], indent=2))
    else:
        print(_table(result, args.tz))
    return 0


def _table(result: Preview, zone_name: str) -> str:
    header = ("#", f"local ({zone_name})", "nominal (UTC)", "dispatch (UTC)", "note")
    rows: list[tuple[str, ...]] = []
    number = 0
    for fire in result.fires:
        if fire.skipped is None:
            number += 1
            index = str(number)
            dispatch = utc_text(fire.dispatch_at) if fire.dispatch_at != fire.nominal_at else "="
        else:
            index, dispatch = "-", f"skipped ({fire.skipped.value})"
        local = fire.local_at
        rows.append(
            (
                index,
                f"{local:%Y-%m-%d %a %H:%M:%S} {local.isoformat()[-6:]}",
                utc_text(fire.nominal_at),
                dispatch,
                "; ".join(fire.notes),
            )
        )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    if result.exhausted:
        lines.append("(no further fires)")
    elif result.scan_limited:
        lines.append("(stopped looking: too many skipped fires in a row)")
    return "\n".join(lines)


def _version(zone_rules: str) -> str:
    """What ``kairos --version`` prints: the version (defined once, service/_version.py)
    and the zone rules in use."""
    return f"kairos {__version__}\ntzdata {tzdata_version()} ({zone_rules})"


def _tzdata(args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= 10_000:
        raise InvalidRequest("--limit must be between 1 and 10000")
    report: ZoneRulesReport | None = None
    if args.database_url:
        try:
            report = asyncio.run(_zone_rules_report(args.database_url, args.limit))
        except (OSError, StorageError) as exc:
            print(f"kairos tzdata: error: {exc}", file=sys.stderr)
            return 1
    if args.json:
        doc: dict[str, object] = {"version": tzdata_version(), "source": args.zone_rules}
        if report is not None:
            doc.update(render_report(report))
        print(json.dumps(doc, indent=2))
        return 0
    print(f"tzdata {tzdata_version()} ({args.zone_rules})")
    if report is None:
        return 0
    deployment = report.deployment or "not recorded yet"
    agree = "" if report.deployment in (None, report.version) else "  (differs from this process)"
    print(f"deployment planned with {deployment}{agree}")
    if not report.replanned:
        print("no schedule was re-planned by a change of zone rules")
        return 0
    print("re-planned by a change of zone rules (newest first):")
    for r in report.replanned:
        old = utc_text(r.old_next_fire_at) if r.old_next_fire_at else "-"
        new = utc_text(r.new_next_fire_at) if r.new_next_fire_at else "-"
        print(
            f"  {r.tenant_id}  {r.schedule_id}  {r.name}  {r.timezone}  "
            f"{r.tzdata_from} -> {r.tzdata_to}  next {old} -> {new}"
        )
    return 0


async def _zone_rules_report(database_url: str, limit: int) -> ZoneRulesReport:
    pool = await create_pool(database_url, max_size=1, name="kairos-cli")
    try:
        return await zone_rules_report(PostgresDatabase(pool), limit=limit)
    finally:
        await pool.close()


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


def main(argv: Sequence[str] | None = None) -> int:
    try:
        # Every KAIROS_* variable, read and validated once: a bad one is one line.
        settings = Settings.load()
        # One source of zone rules for every command, chosen once: `kairos next` shows
        # what `kairos serve` with the same environment would plan.
        source = zone_source_named(settings.zoneinfo)
    except (SettingsError, RuntimeError) as exc:
        print(f"kairos: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    parser = _build_parser(settings)
    args = parser.parse_args(argv)
    args.settings = settings
    use_zone_source(source)
    args.zone_rules = describe(source)  # what KAIROS_ZONEINFO chose, for the output
    if args.version:
        print(_version(args.zone_rules))
        return 0
    if args.command is None:
        parser.error("a command is required")
    if args.command in operate.COMMANDS or (
        args.command == "events" and args.events_command in operate.EVENT_COMMANDS
    ):
        return operate.run(args)
    try:
        if args.command == "tzdata":
            return _tzdata(args)
        if args.command == "next":
            return _next(args)
        if args.command == "migrate":
            return _migrate(args)
        if args.command == "dev":
            return _dev(args)
        if args.command == "serve":
            return _serve(args)
        if args.command == "worker":
            return _worker(args)
        if args.command == "apply":
            return _apply(args)
        if args.command == "events":
            return _events(args)
        if args.command == "token":
            return _token(args)
        if args.command == "ui":
            return _ui(args)
    except DomainError as exc:
        print(f"kairos {args.command}: error: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    parser.error(f"unknown command {args.command!r}")


if __name__ == "__main__":
    sys.exit(main())

"""The ``kairos`` command line's parser: every command's flags."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import NoReturn

from domain.access import Scope
from domain.firing import FoldPolicy, GapPolicy
from domain.timing import CalendarPolicy, WindowPolicy
from domain.triggers import DelayMode
from service.cli import operate
from service.runtime.dev import read_dev_env
from service.settings import Settings

EXIT_USAGE = 2


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

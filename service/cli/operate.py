"""The operator commands: ``kairos get|describe|trigger|pause|resume|backfill|retry|
cancel|delete`` through the REST API, by name, and ``kairos events publish``.

A NAME is resolved to an id through the API (the list's ``name`` filter where the
server has one, else every page of the list, matched exactly); an id is taken as
given. Unknown: exit 1; ambiguous (workers may share a name): exit 2. What the server
offers beyond the basics (a pause note, skipped fires on ``/next``, the ``name``
filter) is read from its OpenAPI document, so an older server gets a clear "not
supported by this server" instead of a silently dropped option.

This module is the commands' flags and dispatch; names are resolved in ``names.py``,
the commands are in ``get.py``, ``describe.py``, ``actions.py`` and ``publish.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from adapters.clock import SystemClock
from service.cli import output
from service.cli.actions import _backfill, _cancel, _delete, _pause, _resume, _retry, _trigger
from service.cli.client import ApiClient, CliError, Connection, connection
from service.cli.context import DEFAULT_RUNS, NEXT_FIRES, RESOURCES, Context, Out
from service.cli.describe import _describe
from service.cli.get import _get
from service.cli.names import find, resolve, run_id
from service.cli.publish import publish

__all__ = [
    "COMMANDS",
    "EVENT_COMMANDS",
    "Context",
    "add_commands",
    "add_event_commands",
    "execute",
    "find",
    "publish",
    "resolve",
    "run",
    "run_id",
]

COMMANDS = frozenset(
    {"get", "describe", "trigger", "pause", "resume", "backfill", "retry", "cancel", "delete"}
)
EVENT_COMMANDS = frozenset({"publish"})

# -- the command line ---------------------------------------------------------------------


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-o",
        "--output",
        choices=output.FORMATS,
        default="table",
        help="table (default), or the API's answer as json or yaml",
    )
    common.add_argument(
        "--url", help="the API (default: $KAIROS_URL, else the running `kairos dev`)"
    )
    common.add_argument(
        "--tenant",
        help="the tenant a dev-stack token is minted for (default: $KAIROS_TENANT; "
        "with KAIROS_TOKEN the token says)",
    )
    common.add_argument("--data", default=".kairos", help="the dev stack's folder (./.kairos)")
    return common


def add_commands(sub: Any) -> None:
    """Register the operator commands on the ``kairos`` subparsers."""
    common = [_common()]
    get = sub.add_parser(
        "get",
        parents=common,
        help="list schedules, jobs, runs, workers, calendars or the scheduler's replicas "
        "(or show one by name)",
    )
    get.add_argument(
        "resource",
        choices=sorted(RESOURCES),
        metavar="RESOURCE",
        help="schedules|jobs|runs|workers|calendars|replicas",
    )
    get.add_argument("name", nargs="?", metavar="NAME", help="one by name (a run: by id)")
    get.add_argument(
        "--status",
        action="append",
        default=[],
        metavar="STATUS",
        help="runs: their status (repeatable, or comma-separated); schedules, workers: state",
    )
    get.add_argument("--schedule", metavar="NAME", help="runs of this schedule")
    get.add_argument("--job", metavar="NAME", help="runs of this job")
    get.add_argument("--from", dest="start", metavar="INSTANT", help="runs due from")
    get.add_argument("--to", dest="end", metavar="INSTANT", help="runs due before")
    get.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help=f"at most N items (runs: {DEFAULT_RUNS} unless given); pages are followed",
    )
    describe = sub.add_parser(
        "describe",
        parents=common,
        help="a schedule: spec, state, last run, next fires, recent runs, stats",
    )
    describe.add_argument("kind", choices=["schedule"])
    describe.add_argument("name", metavar="NAME")
    describe.add_argument("--count", type=int, default=NEXT_FIRES, metavar="N", help="next fires")
    trigger = sub.add_parser("trigger", parents=common, help="run a schedule now")
    trigger.add_argument("name", metavar="NAME")
    trigger.add_argument("--payload", metavar="JSON", help="the run's payload (an object)")
    trigger.add_argument(
        "--idempotency-key", metavar="KEY", help="the same key answers the same run"
    )
    pause = sub.add_parser("pause", parents=common, help="stop a schedule's fires")
    pause.add_argument("name", metavar="NAME")
    pause.add_argument("--note", metavar="TEXT", help="why (kept on the schedule)")
    resume = sub.add_parser("resume", parents=common, help="resume a paused schedule")
    resume.add_argument("name", metavar="NAME")
    resume.add_argument(
        "--from",
        dest="resume_from",
        choices=["now", "last_fire"],
        help="fire from now on, or also the fires missed while paused (the server's "
        "default: last_fire, by its misfire policy)",
    )
    backfill = sub.add_parser("backfill", parents=common, help="run a schedule's past fires")
    backfill.add_argument("name", metavar="NAME")
    backfill.add_argument("--from", dest="start", required=True, metavar="INSTANT")
    backfill.add_argument("--to", dest="end", required=True, metavar="INSTANT")
    backfill.add_argument("--max-runs", type=int, metavar="N")
    retry = sub.add_parser("retry", parents=common, help="run a dead run again")
    retry.add_argument("run", metavar="RUN", help="the run's id (or its first characters)")
    cancel = sub.add_parser("cancel", parents=common, help="cancel a run")
    cancel.add_argument("run", metavar="RUN", help="the run's id (or its first characters)")
    delete = sub.add_parser("delete", parents=common, help="delete a schedule, job or calendar")
    delete.add_argument("kind", choices=["schedule", "job", "calendar"])
    delete.add_argument("name", metavar="NAME")


def add_event_commands(events_sub: Any) -> None:
    """``kairos events publish`` beside ``kairos events tail``."""
    publish = events_sub.add_parser(
        "publish",
        help="publish a message to NATS (an EVENT schedule's subject fires it)",
        description="Publish SUBJECT with a JSON body. With --tenant, SUBJECT is taken "
        "within the tenant's namespace t.<tenant>. (where EVENT triggers listen).",
    )
    publish.add_argument("subject", metavar="SUBJECT")
    publish.add_argument("body", metavar="JSON")
    publish.add_argument("--tenant", help="publish to t.<tenant>.SUBJECT")
    publish.add_argument("--id", dest="msg_id", metavar="ID", help="Nats-Msg-Id (dedupes)")
    publish.add_argument(
        "--nats-url", help="NATS URL (default: $KAIROS_NATS_URL, else the running `kairos dev`)"
    )
    publish.add_argument("--data", default=".kairos", help="the dev stack's folder (./.kairos)")


def run(args: argparse.Namespace) -> int:
    """Run one operator command; every failure is one or two lines on stderr."""
    try:
        if args.command == "events":
            asyncio.run(publish(args, _print))
            return 0
        conn = connection(os.environ, data=Path(args.data), url=args.url, tenant=args.tenant)
        asyncio.run(_with_client(args, conn))
    except CliError as exc:
        print(f"kairos {args.command}: error: {exc.text}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `kairos get runs | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return 0


async def _with_client(args: argparse.Namespace, conn: Connection) -> None:
    async with ApiClient(conn) as client:
        await execute(args, client, _print, colour=_colour())


def _print(text: str) -> None:
    print(text, flush=True)


def _colour() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


async def execute(
    args: argparse.Namespace,
    client: ApiClient,
    out: Out,
    *,
    now: datetime | None = None,
    colour: bool = False,
) -> None:
    """One operator command over ``client`` (raises ``CliError``)."""
    ctx = Context(client, out, args.output, now or SystemClock().now(), colour)
    command: Callable[[Context, argparse.Namespace], Any] = {
        "get": _get,
        "describe": _describe,
        "trigger": _trigger,
        "pause": _pause,
        "resume": _resume,
        "backfill": _backfill,
        "retry": _retry,
        "cancel": _cancel,
        "delete": _delete,
    }[args.command]
    await command(ctx, args)

"""The operator commands: ``kairos get|describe|trigger|pause|resume|backfill|retry|
cancel|delete`` through the REST API, by name, and ``kairos events publish``.

A NAME is resolved to an id through the API (the list's ``name`` filter where the
server has one, else every page of the list, matched exactly); an id is taken as
given. Unknown: exit 1; ambiguous (workers may share a name): exit 2. What the server
offers beyond the basics (a pause note, skipped fires on ``/next``, the ``name``
filter) is read from its OpenAPI document, so an older server gets a clear "not
supported by this server" instead of a silently dropped option.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import nats
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.js.errors import NoStreamResponseError

from adapters.clock import SystemClock
from service.cli import output
from service.cli.client import (
    EXIT_USAGE,
    ApiClient,
    ApiError,
    CliError,
    Connection,
    connection,
    is_uuid,
)
from service.runtime.dev import read_dev_env

COMMANDS = frozenset(
    {"get", "describe", "trigger", "pause", "resume", "backfill", "retry", "cancel", "delete"}
)
EVENT_COMMANDS = frozenset({"publish"})
KINDS = {"schedule": "/schedules", "job": "/jobs", "calendar": "/calendars", "worker": "/workers"}
RESOURCES = {
    "schedules": "schedule",
    "schedule": "schedule",
    "jobs": "job",
    "job": "job",
    "calendars": "calendar",
    "calendar": "calendar",
    "workers": "worker",
    "worker": "worker",
    "runs": "run",
    "run": "run",
}
DEFAULT_RUNS = 50
RECENT_RUNS = 5
NEXT_FIRES = 5
Out = Callable[[str], None]


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
        help="list schedules, jobs, runs, workers or calendars (or show one by name)",
    )
    get.add_argument(
        "resource",
        choices=sorted(RESOURCES),
        metavar="RESOURCE",
        help="schedules|jobs|runs|workers|calendars",
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


# -- the commands -------------------------------------------------------------------------


@dataclass
class Context:
    client: ApiClient
    out: Out
    fmt: str
    now: datetime
    colour: bool

    def emit(self, doc: Any, text: Callable[[], str]) -> None:
        """The API's document (json, yaml) or the text for a person (table)."""
        self.out(output.document(doc, self.fmt) if self.fmt != "table" else text())


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


# -- names ---------------------------------------------------------------------------------


async def find(client: ApiClient, kind: str, name: str) -> list[dict[str, Any]]:
    """Every ``kind`` (schedule, job, calendar, worker) named exactly ``name`` (or whose
    id it is)."""
    path = KINDS[kind]
    if is_uuid(name):
        try:
            return [await client.get(f"{path}/{name}")]
        except ApiError as exc:
            if exc.status != 404:
                raise
    params: dict[str, Any] = {}
    if "name" in await client.query_parameters("GET", path):
        params["name"] = name
    items, _ = await client.items(path, **params)
    return [item for item in items if item.get("name") == name]


async def resolve(client: ApiClient, kind: str, name: str) -> dict[str, Any]:
    """The one ``kind`` named ``name``: unknown is exit 1, ambiguous exit 2."""
    found = await find(client, kind, name)
    if not found:
        raise CliError(f"no {kind} named {name!r}")
    if len(found) > 1:
        ids = ", ".join(str(item.get("id")) for item in found[:5])
        raise CliError(
            f"{len(found)} {kind}s are named {name!r}: give the id of one ({ids})", EXIT_USAGE
        )
    return found[0]


RUN_SCAN = 5  # pages of the newest runs searched for an id prefix


async def run_id(client: ApiClient, text: str) -> str:
    """A run's id as given, or the one id among the newest runs that starts with
    ``text`` (at least 4 characters)."""
    if is_uuid(text):
        return text
    prefix = text.lower()
    if len(prefix) < 4 or any(c not in "0123456789abcdef-" for c in prefix):
        raise CliError(f"{text!r} is not a run id (nor 4 or more of its first characters)", 2)
    found: list[str] = []
    scanned = 0
    async with contextlib.aclosing(client.pages("/runs")) as pages:
        async for page, _ in pages:
            found += [str(r["id"]) for r in page if str(r["id"]).startswith(prefix)]
            scanned += 1
            if len(found) > 1 or scanned >= RUN_SCAN:
                break
    if not found:
        raise CliError(f"no recent run's id starts with {text!r}: give its whole id")
    if len(found) > 1:
        raise CliError(f"several runs' ids start with {text!r}: give more of it", EXIT_USAGE)
    return found[0]


async def _names(client: ApiClient, path: str) -> dict[str, str]:
    """id -> name of every live item of a list (to show names beside ids)."""
    items, _ = await client.items(path)
    return {str(item.get("id")): str(item.get("name")) for item in items}


# -- get -----------------------------------------------------------------------------------


def _statuses(values: Sequence[str]) -> list[str]:
    return [v.strip() for raw in values for v in raw.split(",") if v.strip()]


def _limit(value: int | None) -> int | None:
    if value is not None and value < 1:
        raise CliError("--limit must be at least 1", EXIT_USAGE)
    return value


async def _get(ctx: Context, args: argparse.Namespace) -> None:
    kind = RESOURCES[args.resource]
    if kind == "run":
        await _get_runs(ctx, args)
        return
    if args.schedule or args.job or args.start or args.end:
        raise CliError("--schedule, --job, --from and --to filter runs only", EXIT_USAGE)
    limit = _limit(args.limit)
    states = set(_statuses(args.status))
    if states and kind not in ("schedule", "worker"):
        raise CliError("--status filters runs, schedules and workers", EXIT_USAGE)
    if args.name is not None:
        found = await find(ctx.client, kind, args.name)
        if not found:
            raise CliError(f"no {kind} named {args.name!r}")
        if len(found) == 1:
            ctx.emit(found[0], lambda: _rows(ctx, kind, found))
            return
        items, cursor = found, None
    else:
        items, cursor = await ctx.client.items(KINDS[kind], limit=None if states else limit)
    if states:
        items = [item for item in items if item.get("state") in states][:limit]
    page = {"items": items, "next_cursor": cursor}
    ctx.emit(page, lambda: _rows(ctx, kind, items))


def _rows(ctx: Context, kind: str, items: list[dict[str, Any]]) -> str:
    if not items:
        return f"no {kind}s"
    now = ctx.now
    if kind == "schedule":
        return output.table(
            ("NAME", "STATE", "TRIGGER", "TIMEZONE", "NEXT FIRE (UTC)", "FIRES", "ID"),
            [
                (
                    str(s["name"]),
                    str(s["state"]),
                    output.short(output.trigger_text(s.get("trigger", {})), 40),
                    str(s.get("timezone", "")),
                    output.utc(s.get("next_fire_at")),
                    str(s.get("fire_count", "")),
                    str(s["id"]),
                )
                for s in items
            ],
            colour=ctx.colour,
        )
    if kind == "job":
        return output.table(
            ("NAME", "TARGET", "ATTEMPTS", "PRIORITY", "TIMEOUT", "CREATED (UTC)", "ID"),
            [
                (
                    str(j["name"]),
                    output.short(output.target_text(j.get("target", {})), 40),
                    str(j.get("max_attempts", "")),
                    str(j.get("priority", "")),
                    str(j.get("timeout", "")),
                    output.utc(j.get("created_at")),
                    str(j["id"]),
                )
                for j in items
            ],
        )
    if kind == "calendar":
        return output.table(
            ("NAME", "BUSINESS DAYS", "HOLIDAYS", "SOURCES", "VERSION", "ID"),
            [
                (
                    str(c["name"]),
                    ",".join(c.get("business_days", [])),
                    str(len(c.get("holidays", []))),
                    output.short(", ".join(_source(s) for s in c.get("sources", [])) or "-", 30),
                    str(c.get("version", "")),
                    str(c["id"]),
                )
                for c in items
            ],
        )
    return output.table(
        ("NAME", "STATE", "CAPABILITIES", "CAPACITY", "LAST HEARTBEAT", "ID"),
        [
            (
                str(w["name"]),
                str(w["state"]),
                output.short(",".join(w.get("capabilities", [])), 40),
                str(w.get("capacity", "")),
                output.relative(w.get("last_heartbeat_at"), now),
                str(w["id"]),
            )
            for w in items
        ],
        colour=ctx.colour,
    )


def _source(source: Any) -> str:
    if isinstance(source, dict):
        return "-".join(str(v) for v in source.values())
    return str(source)


async def _get_runs(ctx: Context, args: argparse.Namespace) -> None:
    if args.name is not None:
        run = await ctx.client.get(f"/runs/{await run_id(ctx.client, args.name)}")
        if ctx.fmt != "table":
            ctx.emit(run, str)
            return
        name = run.get("schedule_name") or await _name_of(
            ctx.client, "/schedules", str(run["schedule_id"])
        )
        ctx.out(_run_text(ctx, run, name))
        return
    params: dict[str, Any] = {
        "status": _statuses(args.status) or None,
        "from": args.start,
        "to": args.end,
    }
    if args.schedule:
        params["schedule_id"] = (await resolve(ctx.client, "schedule", args.schedule))["id"]
    if args.job:
        params["job_id"] = (await resolve(ctx.client, "job", args.job))["id"]
    limit = _limit(args.limit) or DEFAULT_RUNS
    items, cursor = await ctx.client.items("/runs", limit=limit, **params)
    if ctx.fmt != "table":
        ctx.emit({"items": items, "next_cursor": cursor}, str)
        return
    names = await _names(ctx.client, "/schedules") if items else {}
    ctx.out(_run_rows(ctx, items, names) if items else "no runs")


def _run_rows(ctx: Context, runs: list[dict[str, Any]], names: dict[str, str]) -> str:
    return output.table(
        ("ID", "SCHEDULE", "STATUS", "ORIGIN", "NOMINAL (UTC)", "ATTEMPT", "REASON"),
        [
            (
                str(r["id"]),
                str(
                    r.get("schedule_name")
                    or names.get(str(r["schedule_id"]))
                    or str(r["schedule_id"])[:8]
                ),
                str(r["status"]),
                str(r.get("origin", "")),
                output.utc(r.get("nominal_at")),
                f"{r.get('attempt', 0)}/{r.get('max_attempts', 0)}",
                output.short(r.get("reason"), 50),
            )
            for r in runs
        ],
        colour=ctx.colour,
    )


def _run_text(ctx: Context, run: dict[str, Any], schedule: str) -> str:
    pairs = [
        ("Run", str(run["id"])),
        (
            "Schedule",
            f"{schedule} ({run['schedule_id']})" if schedule != run["schedule_id"] else schedule,
        ),
        ("Status", str(run["status"])),
        ("Reason", str(run.get("reason") or "-")),
        ("Origin", str(run.get("origin", ""))),
        ("Nominal", output.when(run.get("nominal_at"), ctx.now)),
        ("Dispatch", output.when(run.get("dispatch_at"), ctx.now)),
        ("Attempt", f"{run.get('attempt', 0)} of {run.get('max_attempts', 0)}"),
        ("Payload", json.dumps(run.get("payload", {}), separators=(",", ":"))),
    ]
    text = output.fields(pairs)
    attempts = run.get("attempts") or []
    if attempts:
        text += "\n\nAttempts:\n" + _indent(
            output.table(
                ("#", "STARTED (UTC)", "OUTCOME", "DURATION", "ERROR"),
                [
                    (
                        str(a.get("number")),
                        output.utc(a.get("started_at")),
                        str(a.get("outcome") or "-"),
                        output.millis(a.get("duration_ms")),
                        output.short(a.get("error"), 60),
                    )
                    for a in attempts
                ],
            )
        )
    return text


def _indent(text: str) -> str:
    return "\n".join("  " + line if line else line for line in text.splitlines())


# -- describe ------------------------------------------------------------------------------


async def _describe(ctx: Context, args: argparse.Namespace) -> None:
    if not 1 <= args.count <= 1000:
        raise CliError("--count must be between 1 and 1000", EXIT_USAGE)
    client = ctx.client
    schedule = await resolve(client, "schedule", args.name)
    sid = schedule["id"]
    params: dict[str, Any] = {"count": args.count}
    skipped_listed = "include_skipped" in await client.query_parameters(
        "GET", "/schedules/{schedule_id}/next"
    )
    if skipped_listed:
        params["include_skipped"] = "true"
    job, upcoming, recent, stats = await asyncio.gather(
        client.get(f"/jobs/{schedule['job_id']}"),
        client.get(f"/schedules/{sid}/next", **params),
        client.get("/runs", schedule_id=sid, limit=RECENT_RUNS),
        client.get(f"/schedules/{sid}/stats"),
    )
    doc = {"schedule": schedule, "job": job, "next": upcoming, "runs": recent, "stats": stats}
    if ctx.fmt != "table":
        ctx.emit(doc, str)
        return
    calendar = None
    if schedule.get("calendar_id"):
        calendar = await client.get(f"/calendars/{schedule['calendar_id']}")
    upstream = [await _name_of(client, "/schedules", i) for i in schedule.get("depends_on", [])]
    ctx.out(_describe_text(ctx, doc, calendar, upstream, skipped_listed))


async def _name_of(client: ApiClient, path: str, id: str) -> str:
    try:
        return str((await client.get(f"{path}/{id}"))["name"])
    except ApiError as exc:
        if exc.status == 404:
            return id
        raise


def _describe_text(
    ctx: Context,
    doc: dict[str, Any],
    calendar: dict[str, Any] | None,
    upstream: list[str],
    skipped_listed: bool,
) -> str:
    s, job, stats = doc["schedule"], doc["job"], doc["stats"]
    runs: list[dict[str, Any]] = doc["runs"].get("items", [])
    state = str(s["state"])
    if s.get("state_reason"):
        state += f" ({s['state_reason']})"
    pairs = [
        ("Name", str(s["name"])),
        ("ID", str(s["id"])),
        ("State", state),
        ("Job", f"{job['name']} ({output.target_text(job.get('target', {}))})"),
        ("Trigger", output.trigger_text(s.get("trigger", {}))),
        ("Timezone", str(s.get("timezone", ""))),
    ]
    optional = [
        ("Starts", s.get("start_at") and output.utc(s["start_at"])),
        ("Ends", s.get("end_at") and output.utc(s["end_at"])),
        ("Max fires", s.get("max_fires")),
        ("Calendar", calendar and f"{calendar['name']} ({s.get('calendar_policy')})"),
        ("Windows", s.get("windows") and f"{', '.join(s['windows'])} ({s.get('window_policy')})"),
        ("Jitter", s.get("max_jitter") not in (None, "PT0S") and s.get("max_jitter")),
        ("Depends on", upstream and ", ".join(upstream)),
        ("Payload", s.get("payload") and json.dumps(s["payload"], separators=(",", ":"))),
    ]
    pairs += [(label, str(value)) for label, value in optional if value]
    pairs += [
        (
            "Policies",
            f"misfire {s.get('misfire_policy')}, overlap {s.get('overlap_policy')}, "
            f"catch-up window {s.get('catchup_window')}",
        ),
        ("Fires so far", str(s.get("fire_count", 0))),
        ("Next fire", output.when(s.get("next_fire_at"), ctx.now)),
    ]
    if runs:
        last = runs[0]
        pairs.append(
            (
                "Last run",
                f"{last['status']} for {output.utc(last.get('nominal_at'))} "
                f"({output.relative(last.get('nominal_at'), ctx.now)}, {last.get('origin')}) "
                f"{last['id']}",
            )
        )
    else:
        pairs.append(("Last run", "none yet"))
    parts = [output.fields(pairs)]
    parts.append(
        "Next fires:" + ("" if skipped_listed else " (skipped fires: not listed by this server)")
    )
    parts.append(_indent(_fires_table(doc["next"])))
    parts.append(f"Recent runs (newest first, {RECENT_RUNS} at most):")
    parts.append(
        _indent(
            output.table(
                ("ID", "STATUS", "ORIGIN", "NOMINAL (UTC)", "ATTEMPT", "REASON"),
                [
                    (
                        str(r["id"]),
                        str(r["status"]),
                        str(r.get("origin", "")),
                        output.utc(r.get("nominal_at")),
                        f"{r.get('attempt', 0)}/{r.get('max_attempts', 0)}",
                        output.short(r.get("reason"), 50),
                    )
                    for r in runs
                ],
                colour=ctx.colour,
            )
            if runs
            else "none"
        )
    )
    by_status = ", ".join(f"{k} {v}" for k, v in sorted(stats.get("by_status", {}).items()))
    duration, lateness = stats.get("duration_ms", {}), stats.get("lateness_ms", {})
    parts.append(f"Stats since {output.utc(stats.get('since'))}:")
    parts.append(
        _indent(
            output.fields(
                [
                    ("Runs", f"{stats.get('runs', 0)}" + (f" ({by_status})" if by_status else "")),
                    ("Success rate", output.percent(stats.get("success_rate"))),
                    (
                        "Duration",
                        f"p50 {output.millis(duration.get('p50'))}, "
                        f"p95 {output.millis(duration.get('p95'))}",
                    ),
                    (
                        "Lateness",
                        f"p50 {output.millis(lateness.get('p50'))}, "
                        f"p95 {output.millis(lateness.get('p95'))}",
                    ),
                ]
            )
        )
    )
    return "\n".join(parts)


def _fires_table(upcoming: dict[str, Any]) -> str:
    fires: list[dict[str, Any]] = upcoming.get("items", [])
    if not fires:
        return "(no further fires)"
    rows = []
    number = 0
    for fire in fires:
        if fire.get("skipped"):
            index, dispatch = "-", f"skipped ({fire.get('reason', '?')})"
        else:
            number += 1
            index = str(number)
            same = fire.get("dispatch_at") == fire.get("nominal_at")
            dispatch = "=" if same else output.utc(fire.get("dispatch_at"))
        rows.append(
            (
                index,
                output.utc(fire.get("nominal_at")),
                dispatch,
                str(fire.get("local", "")),
                "; ".join(fire.get("notes", [])),
            )
        )
    text = output.table(("#", "NOMINAL (UTC)", "DISPATCH (UTC)", "LOCAL", "NOTES"), rows)
    if upcoming.get("exhausted"):
        text += "\n(no further fires)"
    return text


# -- actions -------------------------------------------------------------------------------


def _json_object(text: str, flag: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise CliError(f"{flag} is not valid JSON: {exc}", EXIT_USAGE) from None
    if not isinstance(value, dict):
        raise CliError(f"{flag} must be a JSON object", EXIT_USAGE)
    return value


async def _trigger(ctx: Context, args: argparse.Namespace) -> None:
    schedule = await resolve(ctx.client, "schedule", args.name)
    body = {"payload": _json_object(args.payload, "--payload")} if args.payload else None
    headers = {"Idempotency-Key": args.idempotency_key} if args.idempotency_key else None
    status, run = await ctx.client.post(
        f"/schedules/{schedule['id']}/trigger", body, headers=headers
    )
    made = "created" if status == 201 else "already made for this idempotency key"
    ctx.emit(run, lambda: f"run {run['id']} {made}: {run['status']} ({schedule['name']})")


PAUSE = "/schedules/{schedule_id}/pause"


async def _pause(ctx: Context, args: argparse.Namespace) -> None:
    schedule = await resolve(ctx.client, "schedule", args.name)
    body = None
    if args.note is not None:
        if "note" not in await ctx.client.body_fields("POST", PAUSE):
            raise CliError(
                "--note is not supported by this server (its pause takes no note); "
                f"{schedule['name']} was not paused"
            )
        body = {"note": args.note}
    _, paused = await ctx.client.post(f"/schedules/{schedule['id']}/pause", body)
    ctx.emit(paused, lambda: f"schedule {paused['name']}: {paused['state']}")


async def _resume(ctx: Context, args: argparse.Namespace) -> None:
    schedule = await resolve(ctx.client, "schedule", args.name)
    body = {"resume_from": args.resume_from} if args.resume_from else None
    _, resumed = await ctx.client.post(f"/schedules/{schedule['id']}/resume", body)
    ctx.emit(
        resumed,
        lambda: (
            f"schedule {resumed['name']}: {resumed['state']}, next fire "
            f"{output.when(resumed.get('next_fire_at'), ctx.now)}"
        ),
    )


async def _backfill(ctx: Context, args: argparse.Namespace) -> None:
    schedule = await resolve(ctx.client, "schedule", args.name)
    body: dict[str, Any] = {"from": args.start, "to": args.end}
    if args.max_runs is not None:
        body["max_runs"] = args.max_runs
    status, backfill = await ctx.client.post(f"/schedules/{schedule['id']}/backfill", body)

    def text() -> str:
        again = "" if status == 201 else " (the same backfill was asked for before)"
        line = (
            f"backfill {backfill['id']} of {schedule['name']}{again}: planned "
            f"{backfill['planned']}, created {backfill['created']}, re-armed "
            f"{backfill['rearmed']}, already there {backfill['existing']}"
        )
        if backfill.get("next_from"):
            line += (
                f"\nmore fires from {output.utc(backfill['next_from'])}: run it again from there"
            )
        return line

    ctx.emit(backfill, text)


async def _retry(ctx: Context, args: argparse.Namespace) -> None:
    _, run = await ctx.client.post(f"/runs/{await run_id(ctx.client, args.run)}/retry")
    ctx.emit(run, lambda: f"run {run['id']}: {run['status']} (retried)")


async def _cancel(ctx: Context, args: argparse.Namespace) -> None:
    status, run = await ctx.client.post(f"/runs/{await run_id(ctx.client, args.run)}/cancel")
    said = (
        "cancel requested (running: it ends cancelled when its worker stops)"
        if status == 202
        else str(run["status"])
    )
    ctx.emit(run, lambda: f"run {run['id']}: {said}")


async def _delete(ctx: Context, args: argparse.Namespace) -> None:
    found = await resolve(ctx.client, args.kind, args.name)
    path = f"{KINDS[args.kind]}/{found['id']}"
    try:
        await ctx.client.delete(path)
    except ApiError as exc:
        if exc.route_missing:
            raise CliError(
                f"deleting a {args.kind} is not supported by this server "
                f"(DELETE {KINDS[args.kind]}/{{id}} answered {exc.status})"
            ) from None
        raise
    if ctx.fmt == "table":
        ctx.out(f"{args.kind} {found['name']} deleted")


# -- events publish ------------------------------------------------------------------------


async def publish(args: argparse.Namespace, out: Out) -> None:
    """Publish one message to NATS; JetStream's ack says which stream kept it."""
    try:
        body = json.loads(args.body)
    except ValueError as exc:
        raise CliError(f"JSON is not valid JSON: {exc}", EXIT_USAGE) from None
    subject = args.subject
    if args.tenant and not subject.startswith("t."):
        subject = f"t.{args.tenant}.{subject}"
    recorded = read_dev_env(Path(args.data)).get("KAIROS_NATS_URL")
    url = args.nats_url or os.environ.get("KAIROS_NATS_URL") or recorded
    if not url:
        raise CliError("no NATS: give --nats-url, set KAIROS_NATS_URL or start `kairos dev`")
    from_dev = not (args.nats_url or os.environ.get("KAIROS_NATS_URL"))

    async def quiet(_: Exception) -> None:
        return None

    try:
        # One more try per server, then NoServersError (0 would mean: retry forever).
        nc = await asyncio.wait_for(
            nats.connect(
                servers=[u.strip() for u in url.split(",") if u.strip()],
                connect_timeout=2,
                allow_reconnect=False,
                max_reconnect_attempts=1,
                reconnect_time_wait=0.2,
                error_cb=quiet,
            ),
            timeout=10,
        )
    except (OSError, TimeoutError, NatsError) as exc:
        if from_dev:
            raise CliError(
                f"the dev stack is not running (nothing answers at {url}): start it with "
                "`make dev` or `kairos dev`"
            ) from None
        raise CliError(f"cannot reach NATS at {url}: {exc or type(exc).__name__}") from None
    data = json.dumps(body, separators=(",", ":")).encode()
    headers = {"Nats-Msg-Id": args.msg_id} if args.msg_id else None
    try:
        try:
            ack = await nc.jetstream().publish(subject, data, headers=headers, timeout=5)
            where = f"stream {ack.stream}, sequence {ack.seq}" + (
                ", a duplicate of an earlier message id" if ack.duplicate else ""
            )
        except (NoRespondersError, NoStreamResponseError):
            await nc.publish(subject, data, headers=headers)
            await nc.flush()
            where = "no stream keeps this subject"
    except (OSError, TimeoutError, NatsError) as exc:
        raise CliError(f"publishing to {subject} failed: {exc or type(exc).__name__}") from None
    finally:
        await nc.close()
    out(f"published to {subject} ({where})")

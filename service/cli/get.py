"""``kairos get``: lists of schedules, jobs, runs, workers or calendars, or one by name;
the scheduler's replicas with the partitions each leads (``GET /admin/replicas``)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from service.cli import output
from service.cli.client import EXIT_USAGE, CliError
from service.cli.context import DEFAULT_RUNS, KINDS, RESOURCES, Context, _indent
from service.cli.names import _name_of, _names, find, resolve, run_id


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
    if kind == "replica":
        await _get_replicas(ctx, args)
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


async def _get_replicas(ctx: Context, args: argparse.Namespace) -> None:
    if args.schedule or args.job or args.start or args.end or args.status or args.limit:
        raise CliError("replicas take no filter but a name", EXIT_USAGE)
    doc: dict[str, Any] = await ctx.client.get("/admin/replicas")
    items: list[dict[str, Any]] = doc.get("items", [])
    if args.name is not None:
        items = [r for r in items if r.get("name") == args.name]
        if not items:
            raise CliError(f"no replica named {args.name!r}")
        doc = {**doc, "items": items}
    ctx.emit(doc, lambda: _replica_rows(ctx, doc, items))


def _replica_rows(ctx: Context, doc: dict[str, Any], items: list[dict[str, Any]]) -> str:
    unleased = doc.get("unleased", [])
    footer = f"{doc.get('partitions', '?')} partitions"
    footer += f"; not led now: {_spans([int(p) for p in unleased])}" if unleased else ""
    if not items:
        return f"no replicas\n{footer}"
    table = output.table(
        ("NAME", "LIVE", "LEADER", "PARTITIONS", "HELD", "EPOCHS", "SEEN (UTC)"),
        [
            (
                str(r["name"]),
                "yes" if r.get("live") else "no",
                f"epoch {r['leader_epoch']}" if r.get("leader_epoch") is not None else "",
                str(len(r.get("partitions", []))),
                output.short(_spans([int(p["partition"]) for p in r.get("partitions", [])]), 40),
                _epochs([int(p["epoch"]) for p in r.get("partitions", [])]),
                output.utc(r.get("seen_at")),
            )
            for r in items
        ],
        colour=ctx.colour,
    )
    return f"{table}\n{footer}"


def _spans(partitions: list[int]) -> str:
    """``0-3,7,9-10``."""
    spans: list[list[int]] = []
    for p in sorted(partitions):
        if spans and spans[-1][1] == p - 1:
            spans[-1][1] = p
        else:
            spans.append([p, p])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in spans) or "-"


def _epochs(epochs: list[int]) -> str:
    if not epochs:
        return "-"
    low, high = min(epochs), max(epochs)
    return str(low) if low == high else f"{low}-{high}"


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
    # Runs name their schedule themselves; older runs (or servers) are looked up.
    unnamed = any(not r.get("schedule_name") for r in items)
    names = await _names(ctx.client, "/schedules") if unnamed else {}
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
                output.short(r.get("reason") or r.get("waiting_for"), 50),
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

"""``kairos describe schedule``: a schedule's spec, state, last run, next fires, recent
runs and stats."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from service.cli import output
from service.cli.client import EXIT_USAGE, CliError
from service.cli.context import RECENT_RUNS, Context, _indent
from service.cli.names import _name_of, resolve


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


def _last_run_text(ctx: Context, last: dict[str, Any] | None) -> str:
    """The schedule's ``last_run``: status, fire, when it finished, id."""
    if not last:
        return "none yet"
    finished = last.get("finished_at")
    ended = f", finished {output.relative(finished, ctx.now)}" if finished else ""
    return (
        f"{last['status']} for {output.utc(last.get('nominal_at'))} "
        f"({output.relative(last.get('nominal_at'), ctx.now)}{ended}) {last['id']}"
    )


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
    if "last_run" in s:  # the server shows the schedule's last run itself
        pairs.append(("Last run", _last_run_text(ctx, s["last_run"])))
    elif runs:
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

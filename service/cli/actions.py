"""The operator commands that change things: ``kairos trigger|pause|resume|backfill|
retry|cancel|delete``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from service.cli import output
from service.cli.client import EXIT_USAGE, ApiError, CliError
from service.cli.context import KINDS, Context
from service.cli.names import resolve, run_id


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

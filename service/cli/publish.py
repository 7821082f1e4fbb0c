"""``kairos events publish``: one message to NATS."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from pathlib import Path

import nats
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.js.errors import NoStreamResponseError

from service.cli.client import EXIT_USAGE, CliError
from service.cli.context import Out
from service.runtime.dev import read_dev_env


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

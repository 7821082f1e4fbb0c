"""deploy/nats/tenants.conf on a real nats-server: each tenant's account sees its own
domain events and EVENT-target messages only, can trigger only its own schedules, and
its inbound events reach Kairos only under its own name."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.msg import Msg
from nats.errors import NoRespondersError

from adapters.embedded.nats import find_nats_server
from adapters.embedded.ports import free_port, wait_for_port

CONF = Path(__file__).resolve().parents[2] / "deploy" / "nats" / "tenants.conf"
PASSWORDS = {"KAIROS_NATS_PASSWORD": "k", "ACME_NATS_PASSWORD": "a", "GLOBEX_NATS_PASSWORD": "g"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[int]:
    port = free_port()
    process = subprocess.Popen(
        [find_nats_server(), "-c", str(CONF), "-p", str(port), "-sd", str(tmp_path)],
        env={**os.environ, **PASSWORDS},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, 20)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_tenant_accounts_see_only_their_own_subjects(server: int) -> None:
    """Kairos publishes events and EVENT messages for acme and globex: each tenant gets
    exactly its own; triggers and inbound events are confined the same way."""
    url = f"nats://127.0.0.1:{server}"
    kairos = await nats.connect(url, user="kairos", password="k")
    acme = await nats.connect(url, user="acme", password="a")
    globex = await nats.connect(url, user="globex", password="g")
    try:
        got: dict[str, list[str]] = {"acme": [], "globex": [], "kairos": []}
        asked: list[str] = []

        def collect(who: str):  # type: ignore[no-untyped-def]
            async def on(msg: Msg) -> None:
                got[who].append(msg.subject)

            return on

        for who, nc in (("acme", acme), ("globex", globex)):
            await nc.subscribe(">", cb=collect(who))
        await kairos.subscribe("in.>", cb=collect("kairos"))

        async def answer(msg: Msg) -> None:
            asked.append(msg.subject)
            await msg.respond(msg.subject.encode())

        await kairos.subscribe("scheduler.trigger.*", cb=answer)
        for nc in (kairos, acme, globex):
            await nc.flush()
        for subject in (
            "scheduler.run.started.acme",
            "scheduler.run.started.globex",
            "t.acme.reports",
            "t.globex.reports",
        ):
            await kairos.publish(subject, b"{}")
        await acme.publish("in.acme.orders.created", b"{}")
        await globex.publish("in.acme.orders.created", b"{}")  # not its name: goes nowhere
        for nc in (kairos, acme, globex):
            await nc.flush()
        await asyncio.sleep(0.3)
        assert sorted(s for s in got["acme"] if not s.startswith("in.")) == [
            "scheduler.run.started.acme",
            "t.acme.reports",
        ]
        assert sorted(s for s in got["globex"] if not s.startswith("in.")) == [
            "scheduler.run.started.globex",
            "t.globex.reports",
        ]
        assert got["kairos"] == ["in.acme.orders.created"]
        reply = await acme.request("scheduler.trigger.acme", b"{}", timeout=2)
        assert reply.data == b"scheduler.trigger.acme"
        # globex's trigger subject does not exist in acme's account: no answer, and
        # Kairos never sees the request
        with pytest.raises((NoRespondersError, nats.errors.TimeoutError)):
            await acme.request("scheduler.trigger.globex", b"{}", timeout=1)
        assert asked == ["scheduler.trigger.acme"]
    finally:
        for nc in (kairos, acme, globex):
            await nc.close()

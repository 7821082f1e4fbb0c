"""``GET /admin/replicas`` and ``kairos get replicas``: which scheduler replica leads
which partitions at which epochs, for the operator's tenant only."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import timedelta

import httpx
import pytest

from adapters.http.api import create_app, header_principal
from adapters.memory.clock import FakeClock
from adapters.memory.database import MemoryDatabase
from domain.ids import TenantId
from service.cli.client import ApiClient, CliError, Connection
from service.loops.leadership import Campaign, PartitionCampaign
from tests.api.support import ACME, error
from tests.api.test_cli_operate import say

OPS = {"Kairos-Tenant": "ops"}
TTL = timedelta(seconds=10)


@pytest.fixture
async def shared(db: MemoryDatabase) -> AsyncIterator[tuple[PartitionCampaign, PartitionCampaign]]:
    """Replicas a and b share the partitions; a also holds the cluster-wide lease."""
    async with AsyncExitStack() as stack:
        a_presence = await stack.enter_async_context(db.presence())
        b_presence = await stack.enter_async_context(db.presence())
        a = PartitionCampaign(a_presence, "a", TTL)
        b = PartitionCampaign(b_presence, "b", TTL)
        assert await Campaign(a_presence, "a", TTL).step() == 1
        for _ in range(3):
            await a.step()
            await b.step()
        yield a, b


def app(db: MemoryDatabase) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(
        app=create_app(db, auth=header_principal, operator=TenantId("ops"))
    )
    return httpx.AsyncClient(transport=transport, base_url="http://kairos")


async def test_the_operator_sees_each_replicas_partitions_and_others_are_refused(
    db: MemoryDatabase, clock: FakeClock, shared: tuple[PartitionCampaign, PartitionCampaign]
) -> None:
    a, b = shared
    async with app(db) as api:
        denied = await api.get("/admin/replicas", headers=ACME)
        assert (denied.status_code, error(denied)["code"]) == (403, "FORBIDDEN")
        r = await api.get("/admin/replicas", headers=OPS)
        assert r.status_code == 200
        body = r.json()
        assert (body["partitions"], body["unleased"]) == (64, [])
        by_name = {item["name"]: item for item in body["items"]}
        assert set(by_name) == {"a", "b"}
        for campaign in (a, b):
            item = by_name[campaign.holder]
            assert item["live"] is True
            held = {p["partition"]: p["epoch"] for p in item["partitions"]}
            assert held == campaign.epochs
            assert len(held) == 32
        assert (by_name["a"]["leader_epoch"], by_name["b"]["leader_epoch"]) == (1, None)
        clock.advance(TTL * 2)  # nobody renewed: every lease lapsed
        lapsed = (await api.get("/admin/replicas", headers=OPS)).json()
        assert lapsed["unleased"] == list(range(64))
        assert all(not item["live"] and item["partitions"] == [] for item in lapsed["items"])


async def test_kairos_get_replicas_prints_who_leads_which_partitions(
    db: MemoryDatabase, shared: tuple[PartitionCampaign, PartitionCampaign]
) -> None:
    a, _ = shared
    transport = httpx.ASGITransport(
        app=create_app(db, auth=header_principal, operator=TenantId("ops"))
    )
    async with ApiClient(
        Connection(url="http://kairos", token=None, headers=OPS), transport=transport
    ) as cli:
        text = await say(cli, "get", "replicas")
        header, first, second, footer = text.splitlines()
        assert header.split() == [
            "NAME",
            "LIVE",
            "LEADER",
            "PARTITIONS",
            "HELD",
            "EPOCHS",
            "SEEN",
            "(UTC)",
        ]
        assert first.split()[:5] == ["a", "yes", "epoch", "1", "32"]
        assert second.split()[:3] == ["b", "yes", "32"]
        assert footer == "64 partitions"
        doc = json.loads(await say(cli, "get", "replicas", "-o", "json"))
        (mine,) = [item for item in doc["items"] if item["name"] == "a"]
        assert {p["partition"] for p in mine["partitions"]} == set(a.epochs)
        one = json.loads(await say(cli, "get", "replica", "b", "-o", "json"))
        assert [item["name"] for item in one["items"]] == ["b"]
        with pytest.raises(CliError, match="no replica named 'c'"):
            await say(cli, "get", "replica", "c")
        with pytest.raises(CliError, match="no filter"):
            await say(cli, "get", "replicas", "--status", "live")

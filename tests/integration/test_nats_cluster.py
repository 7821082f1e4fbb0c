"""Kairos on a three-node NATS cluster with JetStream (real nats-servers on loopback):
its streams are kept on 3 servers, and killing the node a publisher is connected to
while it publishes loses no acknowledged message and doubles none; the client moves to
a remaining node by itself."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from nats.js.api import StreamConfig

from adapters.embedded.nats import find_nats_server
from adapters.embedded.ports import free_port, wait_for_port
from adapters.nats import streams
from adapters.nats.acks import AckedPublisher, Message
from service.runtime.processes import nats_servers

STREAM = "KAIROS_CLUSTER_TEST"


class Node:
    def __init__(self, root: Path, name: str, client: int, route: int, routes: list[int]):
        self.root, self.name, self.client, self.route = root / name, name, client, route
        self.routes = routes
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client}"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        routes = ", ".join(f"nats-route://127.0.0.1:{p}" for p in self.routes)
        config = self.root / "nats.conf"
        config.write_text(
            f"server_name: {self.name}\nlisten: 127.0.0.1:{self.client}\n"
            f"jetstream {{ store_dir: {self.root / 'js'}\n sync_interval: always }}\n"
            f"cluster {{ name: kairos\n listen: 127.0.0.1:{self.route}\n routes: [{routes}] }}\n"
        )
        log = (self.root / "nats.log").open("ab")
        self.process = subprocess.Popen(
            [find_nats_server(), "-c", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        wait_for_port(self.client, 30)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[list[Node]]:
    clients = [free_port() for _ in range(3)]
    routes = [free_port() for _ in range(3)]
    nodes = [
        Node(tmp_path, f"n{i}", clients[i], routes[i], [p for p in routes if p != routes[i]])
        for i in range(3)
    ]
    try:
        for node in nodes:
            node.start()
        yield nodes
    finally:
        for node in nodes:
            node.kill()


async def _ready(js: nats.js.JetStreamContext) -> None:
    """Until the cluster has elected its JetStream meta leader and takes a stream."""
    for _ in range(150):
        try:
            await streams.ensure(js, StreamConfig(name=STREAM, subjects=["cluster.>"]))
            return
        except Exception:  # no meta leader yet, or not enough peers: try again shortly
            await asyncio.sleep(0.2)
    raise TimeoutError("the JetStream cluster never took the stream")


async def test_a_node_killed_under_load_loses_no_acknowledged_message(
    cluster: list[Node],
) -> None:
    """With streams on 3 replicas: publish continuously, kill the publisher's node
    mid-way; every message the stream acknowledged is there once, and acks go on from
    another node."""
    url = ",".join(node.url for node in cluster)
    streams.use_replicas(3)
    try:
        nc = await nats.connect(
            servers=nats_servers(url), max_reconnect_attempts=-1, reconnect_time_wait=0.2
        )
        try:
            await _ready(nc.jetstream())
            info = await nc.jetstream().stream_info(STREAM)
            assert info.config.num_replicas == 3
            # Publish through the stream's leader, so the kill takes both the client's
            # node and the node that stores first: the harshest single-node loss.
            assert info.cluster is not None
            leader = next(n for n in cluster if n.name == info.cluster.leader)
            await nc.close()
            others = [n.url for n in cluster if n is not leader]
            nc = await nats.connect(
                servers=[leader.url, *others],
                dont_randomize=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.2,
            )
            js = nc.jetstream()
            publisher = AckedPublisher(nc, ack_timeout=2.0)
            acked: list[str] = []
            refused = 0
            first_node = nc.connected_url
            killed_at = None
            kill_time: float | None = None
            loop = asyncio.get_running_loop()
            batch = -1
            # 20 batches before the kill, then 12 s more: a new stream leader is elected
            # and the client reconnects meanwhile (a few seconds).
            while kill_time is None or loop.time() < kill_time + 12:
                batch += 1
                ids = [f"{batch}-{i}-{uuid.uuid4().hex[:6]}" for i in range(20)]
                messages: list[Message] = [
                    (f"cluster.{batch % 3}", b"{}", {"Nats-Msg-Id": msg_id}) for msg_id in ids
                ]
                answers = await publisher.publish(messages)
                for msg_id, answer in zip(ids, answers, strict=True):
                    if answer is None:
                        acked.append(msg_id)
                    else:
                        refused += 1
                if batch == 20:
                    port = nc.connected_url.port if nc.connected_url else None
                    next(n for n in cluster if n.client == port).kill()
                    killed_at = len(acked)
                    kill_time = loop.time()
                await asyncio.sleep(0.02)
            assert killed_at is not None
            assert nc.connected_url != first_node, "the client never moved to another node"
            assert len(acked) > killed_at + 100, "acks did not go on after the kill"
            # Read the stream back from a remaining node.
            stored: Counter[str | None] = Counter()
            info = await js.stream_info(STREAM)
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                msg = await js.get_msg(STREAM, seq)
                stored[(msg.headers or {}).get("Nats-Msg-Id")] += 1
            missing = [m for m in acked if stored[m] == 0]
            doubled = [m for m, n in stored.items() if n > 1]
            assert missing == [], f"{len(missing)} acknowledged messages lost"
            assert doubled == []
        finally:
            await nc.close()
    finally:
        streams.use_replicas(1)

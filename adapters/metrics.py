"""Prometheus metrics (``/metrics``), with prometheus_client behind this module.

Counters and histograms are fed by the loops (``service.telemetry``); the queue and
the outbox are read from the database when scraped (``refresh``), so every replica
reports the same, current depth.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from domain.partitions import PREFIX
from domain.ports import LEADER, Database
from domain.zones import tzdata_version

LATENESS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600)
LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class PrometheusMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self._fires = Counter("kairos_fires", "Fire records materialised", registry=r)
        self._events = Counter(
            "kairos_events_published", "Domain events relayed to the stream", ["type"], registry=r
        )
        self._lateness = Histogram(
            "kairos_fire_lateness_seconds",
            "Claim time minus nominal fire time of started runs",
            buckets=LATENESS_BUCKETS,
            registry=r,
        )
        self._claim = Histogram(
            "kairos_claim_seconds",
            "Duration of one claim transaction",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._claimed = Counter("kairos_runs_claimed", "Runs claimed by this process", registry=r)
        self._delivery = Histogram(
            "kairos_delivery_seconds",
            "Target attempts by kind and outcome (HTTP: status class)",
            ["kind", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._busy = Gauge("kairos_worker_busy", "Runs held by this process's pool", registry=r)
        self._capacity = Gauge("kairos_worker_capacity", "This process's pool capacity", registry=r)
        self._leader = Gauge("kairos_leader", "1 while this replica leads", registry=r)
        self._epoch = Gauge("kairos_leader_epoch", "Epoch of this replica's lease", registry=r)
        self._depth = Gauge(
            "kairos_queue_depth",
            "Runs not ended, by status and priority",
            ["status", "priority"],
            registry=r,
        )
        self._outbox = Gauge("kairos_outbox_events", "Events not yet in the stream", registry=r)
        self._lag = Gauge(
            "kairos_outbox_lag_seconds", "Age of the oldest event not yet relayed", registry=r
        )
        self._tzdata = Gauge(
            "kairos_tzdata_info",
            "1, labelled with the tzdata release of this process's zone rules",
            ["version"],
            registry=r,
        )
        self._tzdata.labels(version=tzdata_version()).set(1)
        self._leader_known = Gauge(
            "kairos_leader_known", "1 while some replica holds the lease", registry=r
        )
        self._partitions = Gauge(
            "kairos_partitions_led", "Partitions this replica leads", registry=r
        )
        self._unleased = Gauge(
            "kairos_partitions_unleased", "Partitions no replica holds a live lease of", registry=r
        )

    # -- service.telemetry.Metrics ---------------------------------------------------------

    def fires(self, count: int) -> None:
        self._fires.inc(count)

    def events_published(self, types: Sequence[str]) -> None:
        for type in types:
            self._events.labels(type=type).inc()

    def runs_started(self, lateness: Sequence[float]) -> None:
        self._claimed.inc(len(lateness))
        for seconds in lateness:
            self._lateness.observe(max(seconds, 0.0))

    def claim_took(self, seconds: float, claimed: int) -> None:
        self._claim.observe(seconds)

    def delivery(self, kind: str, outcome: str, seconds: float) -> None:
        self._delivery.labels(kind=kind, outcome=outcome).observe(seconds)

    def pool(self, busy: int, capacity: int) -> None:
        self._busy.set(busy)
        self._capacity.set(capacity)

    def leader(self, epoch: int | None) -> None:
        self._leader.set(1 if epoch is not None else 0)
        self._epoch.set(epoch or 0)

    def partitions(self, held: int) -> None:
        self._partitions.set(held)

    # -- scrape --------------------------------------------------------------------------

    async def render(self, db: Database) -> bytes:
        """Read the queue and outbox, then the exposition text."""
        async with db.system() as tx:
            depth = await tx.runs.depth()
            oldest = await tx.outbox.pending(1)
            backlog = await tx.outbox.count()
            leader = await tx.leader.current(LEADER)
            count = await tx.leader.partition_count()
            leased = [lease for lease in await tx.leader.all(PREFIX) if lease.live]
            now = await tx.now()
        self._depth.clear()
        for (status, priority), count in depth.items():
            self._depth.labels(status=status, priority=priority).set(count)
        self._outbox.set(backlog)
        self._lag.set((now - oldest[0].event.occurred_at).total_seconds() if oldest else 0.0)
        self._leader_known.set(0 if leader is None else 1)
        self._unleased.set(max(count - len(leased), 0))
        return generate_latest(self.registry)

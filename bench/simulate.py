"""Capacity model of a Kairos deployment: a fire distribution replayed through measured
per-fire costs, a replica count and a partition count (docs/scaling.md).

    python bench/simulate.py [--workload all] [--replicas 8] [--solve-rate 100000] [--json]
    python bench/simulate.py --update-doc   # re-run docs/scaling.md's blocks and tables

Standard library only. Per-fire costs come from ``bench/costs.json`` (``--costs FILE``;
single figures can be overridden by flags); the deployment is given by flags.

The model
---------
A fire takes one of two paths. The **instant path** (broker targets): one transaction
per batch locks the due schedules, inserts the runs already succeeded with their
events, publishes the target messages and awaits their acks. The **lease path**: the
run is inserted, claimed, executed and recorded. ``--instant-share`` is the fraction of
fires on the instant path (the rest, fallbacks included, take the lease path);
``--one-shot-share`` the fraction of one-shot fires (they emit one more event). Every
per-fire figure of the mix is the share-weighted mean of the two paths.

Each fire uses six resources; each resource has a **capacity**, the fire rate at which
it is busy 100 % of the time:

- *replica CPU* (the busiest replica). A replica is one or more Python processes with
  ``--cores-per-replica`` cores between them. The partitions (``--partitions``, P) are
  shared out as evenly as possible, so with R replicas the busiest holds ceil(P/R) of
  them (one when R >= P) and does that share of every partition-bound microsecond
  (``partition_python_us``: materialiser, relay). The rest of a fire's Python CPU
  (the lease path's claim and record, in worker pools that take runs from every
  partition) is spread evenly over all R replicas. Capacity = cores x 1e6 / (µs per
  fire on the busiest replica), and no more than its partitions' loops can use: they
  run concurrently up to its cores, each on at most one core.
- *partition loops*. Each partition's batches are serial: a partition completes one
  batch of ``--batch`` fires in batch x ``partition_serial_us`` plus
  ``--batch-overhead-ms`` (commit and ack round trips). Capacity = P x batch / that
  time. Fires are spread evenly over partitions (the schedule id's hash).
- *PostgreSQL CPU*: ``--pg-cores`` x 1e6 / ``pg_us`` (one primary, shared by all
  partitions; linear in cores, which is optimistic).
- *WAL bandwidth*: ``--wal-mb-s`` x 1e6 / ``wal_bytes``.
- *NATS events stream* and *NATS target stream*: each JetStream stream carries at most
  ``--nats-stream-msgs-s`` messages/s at the configured replication factor (a stream
  is one Raft group: its writes go through its leader). Events go to
  ``--event-streams`` streams (Kairos today: one, ``KAIROS_EVENTS``), target messages
  to ``--target-streams`` (``KAIROS_INBOUND`` for EVENT targets; per-tenant work-queue
  streams for QUEUE targets). Capacity = streams x msgs/s / messages per fire.

The resource with the smallest capacity **saturates first**; the system's drain rate C
is that capacity. A workload is a list of cohorts (instant, fires due then). The
cohorts pass one FIFO fluid server of rate C: a cohort starts when it is due or when
the backlog ahead of it is done, and its fires finish evenly over ``fires / C``. Each
fire's lateness is its finish minus its due time plus one batch time (the fire is
committed with its batch: min(batch, cohort / P) fires of serial time plus the batch
overhead). Lateness excludes fixed latencies the model does not know (wake-ups,
network beyond the batch overhead). Percentiles are exact over that piecewise-uniform
distribution. A spike of N fires at one instant therefore drains in N / C.

Reported per workload: each resource's utilisation at the workload's mean rate, in its
busiest second (offered load: above 100 % means a backlog builds), and while a backlog
drains (the saturating resource at 100 %, the others at C / capacity); the longest
backlog (drain time), the peak backlog and lateness p50 / p99 / max.

The **solver** finds, for a target rate, the smallest deployment in which no resource
exceeds ``--target-util`` (default 70 %): resources shared by the whole deployment
(PostgreSQL CPU, WAL, the NATS streams, the partition loops) fix the number of
**cells** (independent deployments, each with its own PostgreSQL, NATS and
partitions, tenants assigned to one cell each, so a cell carries rate / cells), then
the smallest replica count per cell. When even one partition per replica leaves the
busiest replica above the target, the partitions are too coarse and another cell is
added.

Not modelled: API traffic, retention deletes and vacuum, the rescuer, worker
heartbeats, PostgreSQL replication and WAL archiving, NATS consumers' reads.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

COSTS_FILE = Path(__file__).with_name("costs.json")

REPLICA_CPU = "replica CPU (busiest replica)"
PARTITIONS = "partition loops"
PG_CPU = "PostgreSQL CPU"
WAL = "WAL bandwidth"
NATS_EVENTS = "NATS events stream"
NATS_TARGETS = "NATS target stream"
RESOURCES = (REPLICA_CPU, PARTITIONS, PG_CPU, WAL, NATS_EVENTS, NATS_TARGETS)
SHARED = (PARTITIONS, PG_CPU, WAL, NATS_EVENTS, NATS_TARGETS)

# Standard-time UTC offsets (minutes) of the zones the mix's daily schedules use. No
# DST: the model wants where midnights fall, and DST moves some of them by an hour.
ZONE_OFFSETS = {
    "Pacific/Honolulu": -600,
    "America/Anchorage": -540,
    "America/Los_Angeles": -480,
    "America/Denver": -420,
    "America/Chicago": -360,
    "America/Mexico_City": -360,
    "America/New_York": -300,
    "America/Toronto": -300,
    "America/Bogota": -300,
    "America/Halifax": -240,
    "America/St_Johns": -210,
    "America/Sao_Paulo": -180,
    "America/Argentina/Buenos_Aires": -180,
    "UTC": 0,
    "Europe/London": 0,
    "Europe/Paris": 60,
    "Europe/Berlin": 60,
    "Africa/Lagos": 60,
    "Europe/Athens": 120,
    "Africa/Johannesburg": 120,
    "Europe/Moscow": 180,
    "Asia/Dubai": 240,
    "Asia/Kolkata": 330,
    "Asia/Kathmandu": 345,
    "Asia/Bangkok": 420,
    "Asia/Shanghai": 480,
    "Asia/Singapore": 480,
    "Asia/Tokyo": 540,
    "Australia/Sydney": 600,
    "Pacific/Auckland": 720,
}


# -- inputs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PathCost:
    """What one fire costs on one path (bench/costs.json, ``paths``)."""

    python_us: float  # replica CPU per fire, all loops
    partition_python_us: float  # of which in a partition's own loops
    partition_serial_us: float  # wall time per fire of a partition's slowest serial loop
    pg_us: float  # PostgreSQL CPU per fire
    wal_bytes: float  # WAL written per fire
    events_one_shot: float  # outbox events of a one-shot fire
    events_recurring: float  # outbox events of a recurring fire
    target_messages: float  # target messages per fire


@dataclass(frozen=True)
class Costs:
    instant: PathCost
    lease: PathCost
    event_bytes: float
    target_bytes: float


@dataclass(frozen=True)
class Deployment:
    """One cell: its replicas and partitions, its PostgreSQL primary, its NATS cluster."""

    replicas: int = 8
    partitions: int = 64
    cores_per_replica: float = 1.0
    pg_cores: float = 32.0
    wal_mb_s: float = 500.0
    nats_stream_msgs_s: float = 100_000.0
    nats_replicas: int = 3
    event_streams: int = 1
    target_streams: int = 1
    batch: int = 1000
    batch_overhead_ms: float = 2.0
    instant_share: float = 1.0
    one_shot_share: float = 0.0


def load_costs(path: Path = COSTS_FILE) -> Costs:
    data = json.loads(path.read_text())
    fields = PathCost.__dataclass_fields__

    def cost(name: str) -> PathCost:
        raw = data["paths"][name]
        return PathCost(**{k: float(raw[k]) for k in fields})

    return Costs(
        instant=cost("instant"),
        lease=cost("lease"),
        event_bytes=float(data["event_bytes"]),
        target_bytes=float(data["target_bytes"]),
    )


@dataclass(frozen=True)
class Mix:
    """Per-fire figures of the path mix (share-weighted means of the two paths)."""

    python_us: float
    partition_python_us: float
    partition_serial_us: float
    pg_us: float
    wal_bytes: float
    events: float
    target_messages: float


def mix(costs: Costs, d: Deployment) -> Mix:
    s, o = d.instant_share, d.one_shot_share

    def mean(pick: Callable[[PathCost], float]) -> float:
        return s * pick(costs.instant) + (1 - s) * pick(costs.lease)

    return Mix(
        python_us=mean(lambda c: c.python_us),
        partition_python_us=mean(lambda c: c.partition_python_us),
        partition_serial_us=mean(lambda c: c.partition_serial_us),
        pg_us=mean(lambda c: c.pg_us),
        wal_bytes=mean(lambda c: c.wal_bytes),
        events=mean(lambda c: o * c.events_one_shot + (1 - o) * c.events_recurring),
        target_messages=mean(lambda c: c.target_messages),
    )


# -- capacities -----------------------------------------------------------------------


def busiest_partitions(partitions: int, replicas: int) -> int:
    """Partitions held by the busiest replica when they are shared out evenly."""
    return math.ceil(partitions / replicas) if replicas < partitions else 1


def capacities(costs: Costs, d: Deployment) -> dict[str, float]:
    """Fires/s at which each resource is busy 100 % of the time (inf: not used)."""
    m = mix(costs, d)
    held = busiest_partitions(d.partitions, d.replicas)
    pool_us = m.python_us - m.partition_python_us
    busiest_us = m.partition_python_us * held / d.partitions + pool_us / d.replicas
    batch_s = d.batch * m.partition_serial_us / 1e6 + d.batch_overhead_ms / 1e3

    def per(capacity: float, cost: float) -> float:
        return capacity / cost if cost > 0 else math.inf

    # its partitions' loops are serial each, so they use at most `held` of its cores
    partition_us = m.partition_python_us * held / d.partitions
    usable = min(float(held), d.cores_per_replica)
    replica = min(per(d.cores_per_replica * 1e6, busiest_us), per(usable * 1e6, partition_us))
    return {
        REPLICA_CPU: replica,
        PARTITIONS: per(d.partitions * d.batch, batch_s),
        PG_CPU: per(d.pg_cores * 1e6, m.pg_us),
        WAL: per(d.wal_mb_s * 1e6, m.wal_bytes),
        NATS_EVENTS: per(d.event_streams * d.nats_stream_msgs_s, m.events),
        NATS_TARGETS: per(d.target_streams * d.nats_stream_msgs_s, m.target_messages),
    }


def bottleneck(caps: dict[str, float]) -> str:
    """The resource that saturates first (smallest capacity; the first listed on a tie)."""
    return min(RESOURCES, key=lambda r: caps[r])


def utilisation(rate: float, caps: dict[str, float]) -> dict[str, float]:
    return {r: rate / caps[r] for r in RESOURCES}


# -- workloads ------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    window_s: float  # the period the mean rate is taken over
    cohorts: list[tuple[float, float]]  # (due instant in s, fires due then), sorted


def steady(rate: float, schedules: int, seconds: float = 60.0, step: float = 0.01) -> Workload:
    """``rate`` fires/s spread evenly (each schedule fires every schedules / rate s)."""
    count = round(seconds / step)
    return Workload(
        "steady",
        f"steady {rate:,.0f} fires/s over {schedules:,} schedules ({seconds:.0f} s)",
        seconds,
        [(i * step, rate * step) for i in range(count)],
    )


def spike(fires: int, window_s: float = 3600.0) -> Workload:
    """``fires`` schedules at ``0 * * * *``: all due at one instant, once an hour."""
    return Workload(
        "spike",
        f"top-of-the-hour spike: {fires:,} schedules at `0 * * * *`",
        window_s,
        [(0.0, float(fires))],
    )


def spread(cohorts: dict[float, float], jitter_s: float, step: float) -> dict[float, float]:
    """Each cohort spread evenly over [t, t + jitter_s] (max_jitter; semantics, *Jitter*)."""
    if jitter_s <= 0:
        return cohorts
    pieces = max(1, round(jitter_s / step))
    out: dict[float, float] = {}
    for t, n in cohorts.items():
        for i in range(pieces):
            key = round(t + i * step, 6)
            out[key] = out.get(key, 0.0) + n / pieces
    return out


def realistic(
    schedules: int,
    *,
    hourly: float = 0.7,
    minutely: float = 0.2,
    daily: float = 0.1,
    zones: int = 30,
    jitter_s: float = 0.0,
) -> Workload:
    """One hour of a mix: ``hourly`` of the schedules at a minute spread evenly over the
    hour (second 0), ``minutely`` every minute at second 0, ``daily`` at local midnight
    in ``zones`` zones (equal shares). The hour simulated is the UTC hour holding the
    most zone midnights."""
    chosen = list(ZONE_OFFSETS.items())[:zones]
    midnight = {name: (-offset) % 1440 for name, offset in chosen}  # UTC minute of day
    by_hour: dict[int, list[int]] = {}
    for minute in midnight.values():
        by_hour.setdefault(minute // 60, []).append(minute % 60)
    hour = max(sorted(by_hour), key=lambda h: len(by_hour[h]))
    cohorts: dict[float, float] = {}
    for minute in range(60):
        cohorts[minute * 60.0] = schedules * hourly / 60 + schedules * minutely
    for minute in by_hour[hour]:
        cohorts[minute * 60.0] += schedules * daily / len(chosen)
    cohorts = spread(cohorts, jitter_s, 0.1)
    jittered = f", jitter {jitter_s:.0f} s" if jitter_s > 0 else ""
    return Workload(
        "mix",
        f"mix over {schedules:,} schedules: {hourly:.0%} hourly, {minutely:.0%} every "
        f"minute, {daily:.0%} daily at midnight in {len(chosen)} zones "
        f"(UTC hour {hour:02d}, {len(by_hour[hour])} zone midnight(s)){jittered}",
        3600.0,
        sorted((t, n) for t, n in cohorts.items() if n > 0),
    )


# -- the drain ------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """``weight`` fires whose lateness is spread evenly over [low, high]."""

    low: float
    high: float
    weight: float


@dataclass(frozen=True)
class Drain:
    fires: float
    drain_s: float  # longest stretch with a backlog
    peak_backlog: float  # most fires waiting, at a cohort's arrival
    p50_s: float
    p99_s: float
    max_s: float


def drain(
    cohorts: Sequence[tuple[float, float]],
    rate: float,
    batch_time: Callable[[float], float] = lambda n: 0.0,
) -> Drain:
    """Pass the cohorts through one FIFO fluid server of ``rate`` fires/s.

    ``batch_time(n)`` is the extra lateness of a cohort of n fires (its batch's commit).
    """
    free = -math.inf  # when the server finishes what it has
    busy_start = 0.0
    longest = peak = total = 0.0
    segments: list[Segment] = []
    for t, n in cohorts:
        if n <= 0:
            continue
        if t >= free - 1e-9 * max(1.0, abs(t)):  # idle (or exactly caught up)
            busy_start = t
            waiting = n
        else:
            waiting = n + (free - t) * rate
        start = max(t, free)
        free = start + n / rate
        longest = max(longest, free - busy_start)
        peak = max(peak, waiting)
        extra = batch_time(n)
        segments.append(Segment(start - t + extra, free - t + extra, n))
        total += n
    if not segments:
        return Drain(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    return Drain(
        fires=total,
        drain_s=longest,
        peak_backlog=peak,
        p50_s=quantile(segments, 0.5),
        p99_s=quantile(segments, 0.99),
        max_s=max(s.high for s in segments),
    )


def quantile(segments: Sequence[Segment], q: float) -> float:
    """The q-quantile of a weighted mixture of uniform distributions (bisection)."""
    total = sum(s.weight for s in segments)
    low, high = min(s.low for s in segments), max(s.high for s in segments)

    def below(x: float) -> float:
        mass = 0.0
        for s in segments:
            if x >= s.high:
                mass += s.weight
            elif x > s.low:
                mass += s.weight * (x - s.low) / (s.high - s.low)
        return mass / total

    for _ in range(60):
        mid = (low + high) / 2
        if below(mid) < q:
            low = mid
        else:
            high = mid
    return high


# -- one workload through one deployment ----------------------------------------------


@dataclass
class Report:
    workload: str
    title: str
    fires: float
    mean_rate: float
    busiest_second: float
    capacity: dict[str, float]
    utilisation_mean: dict[str, float]
    utilisation_busiest_second: dict[str, float]
    utilisation_draining: dict[str, float]
    saturates_first: str
    drain_rate: float
    drain_s: float
    peak_backlog: float
    lateness_p50_s: float
    lateness_p99_s: float
    lateness_max_s: float


def busiest_second(cohorts: Sequence[tuple[float, float]]) -> float:
    """Most fires due in any one-second window [k, k+1)."""
    per: dict[int, float] = {}
    for t, n in cohorts:
        per[math.floor(t)] = per.get(math.floor(t), 0.0) + n
    return max(per.values(), default=0.0)


def simulate(workload: Workload, costs: Costs, d: Deployment) -> Report:
    caps = capacities(costs, d)
    first = bottleneck(caps)
    rate = caps[first]
    m = mix(costs, d)

    def batch_time(n: float) -> float:
        per_partition = min(float(d.batch), n / d.partitions)
        return per_partition * m.partition_serial_us / 1e6 + d.batch_overhead_ms / 1e3

    result = drain(workload.cohorts, rate, batch_time)
    mean = result.fires / workload.window_s
    peak = busiest_second(workload.cohorts)
    return Report(
        workload=workload.name,
        title=workload.title,
        fires=result.fires,
        mean_rate=mean,
        busiest_second=peak,
        capacity=caps,
        utilisation_mean=utilisation(mean, caps),
        utilisation_busiest_second=utilisation(peak, caps),
        utilisation_draining=utilisation(rate, caps),
        saturates_first=first,
        drain_rate=rate,
        drain_s=result.drain_s,
        peak_backlog=result.peak_backlog,
        lateness_p50_s=result.p50_s,
        lateness_p99_s=result.p99_s,
        lateness_max_s=result.max_s,
    )


# -- the solver -----------------------------------------------------------------------


@dataclass
class Solution:
    rate: float
    target_util: float
    cells: int
    rate_per_cell: float
    replicas_per_cell: int
    cells_because: str | None  # the shared resource that forced more than one cell
    utilisation: dict[str, float]  # in one cell at rate_per_cell
    limit: str  # the resource closest to the target in that cell
    volumes: dict[str, float] = field(default_factory=dict)


def solve(
    rate: float, costs: Costs, d: Deployment, target: float = 0.7, max_cells: int = 1000
) -> Solution:
    """Fewest cells, then fewest replicas per cell, with no resource above ``target``."""
    shared = utilisation(rate, capacities(costs, d))
    worst = max(SHARED, key=lambda r: shared[r])
    cells = max(1, math.ceil(shared[worst] / target - 1e-9))
    because = worst if cells > 1 else None
    m = mix(costs, d)
    most = d.partitions if m.python_us == m.partition_python_us else 16 * d.partitions
    while cells <= max_cells:
        per_cell = rate / cells
        for replicas in range(1, most + 1):
            cell = replace(d, replicas=replicas)
            util = utilisation(per_cell, capacities(costs, cell))
            if util[REPLICA_CPU] <= target:
                return Solution(
                    rate=rate,
                    target_util=target,
                    cells=cells,
                    rate_per_cell=per_cell,
                    replicas_per_cell=replicas,
                    cells_because=because,
                    utilisation=util,
                    limit=max(RESOURCES, key=lambda r: util[r]),
                    volumes=volumes(per_cell, costs, cell),
                )
        cells += 1
        because = REPLICA_CPU + " (partitions too coarse)"
    raise ValueError(f"no deployment of up to {max_cells} cells carries {rate:,.0f} fires/s")


def volumes(rate: float, costs: Costs, d: Deployment, window_s: float = 600.0) -> dict[str, float]:
    """What one cell moves at ``rate``: WAL, run rows, NATS messages and bytes."""
    m = mix(costs, d)
    ingress = rate * (m.events * costs.event_bytes + m.target_messages * costs.target_bytes)
    return {
        "wal_mb_s": rate * m.wal_bytes / 1e6,
        "wal_tb_day": rate * m.wal_bytes * 86400 / 1e12,
        "run_rows_day": rate * 86400,
        "event_msgs_s": rate * m.events,
        "target_msgs_s": rate * m.target_messages,
        "nats_ingress_mb_s": ingress / 1e6,
        "nats_stored_tb_day_all_replicas": ingress * d.nats_replicas * 86400 / 1e12,
        "dedupe_ids_per_event_stream": rate * m.events * window_s / d.event_streams,
    }


# -- output ---------------------------------------------------------------------------


def pct(x: float) -> str:
    return "-" if x == 0 else f"{x * 100:,.0f} %"


def num(x: float) -> str:
    return "unused" if math.isinf(x) else f"{x:,.0f}"


def describe(d: Deployment) -> str:
    return (
        f"{d.replicas} replicas x {d.cores_per_replica:g} core(s), {d.partitions} partitions, "
        f"batch {d.batch}; PostgreSQL {d.pg_cores:g} cores, WAL {d.wal_mb_s:g} MB/s; NATS "
        f"R{d.nats_replicas}, {d.nats_stream_msgs_s:,.0f} msgs/s per stream, "
        f"{d.event_streams} event stream(s), {d.target_streams} target stream(s); "
        f"instant path {d.instant_share:.0%} of fires, one-shot {d.one_shot_share:.0%}"
    )


def render_report(r: Report) -> str:
    lines = [
        f"#### {r.title}",
        "",
        f"{r.fires:,.0f} fires; mean {r.mean_rate:,.0f} fires/s; busiest second "
        f"{r.busiest_second:,.0f} fires",
        "",
        "| resource | capacity (fires/s) | at mean rate | busiest second | while draining |",
        "|---|---:|---:|---:|---:|",
    ]
    for res in RESOURCES:
        lines.append(
            f"| {res} | {num(r.capacity[res])} | {pct(r.utilisation_mean[res])} "
            f"| {pct(r.utilisation_busiest_second[res])} | {pct(r.utilisation_draining[res])} |"
        )
    lines += [
        "",
        f"saturates first: **{r.saturates_first}** (drains at {r.drain_rate:,.0f} fires/s)",
        "",
    ]
    if r.mean_rate > r.drain_rate:
        lines += [
            f"does not keep up: the mean rate is above the drain rate, the backlog grows by "
            f"{r.mean_rate - r.drain_rate:,.0f} fires/s (figures below: until the simulated "
            "fires are drained)",
            "",
        ]
    elif r.mean_rate >= 0.999 * r.drain_rate:
        lines += [
            "at capacity: the mean rate equals the drain rate, so there is no headroom; any "
            "burst above the mean queues (the fluid model shows no queue at exactly 100 %)",
            "",
        ]
    lines += [
        "| longest backlog (drain) | peak backlog | lateness p50 | p99 | max |",
        "|---:|---:|---:|---:|---:|",
        f"| {r.drain_s:,.2f} s | {r.peak_backlog:,.0f} fires | {r.lateness_p50_s:,.3f} s "
        f"| {r.lateness_p99_s:,.3f} s | {r.lateness_max_s:,.3f} s |",
        "",
    ]
    return "\n".join(lines)


def render_solution(s: Solution, d: Deployment) -> str:
    because = f" ({s.cells_because} above the target in one)" if s.cells_because else ""
    v = s.volumes
    lines = [
        f"#### {s.rate:,.0f} fires/s, no resource above {s.target_util:.0%}",
        "",
        f"**{s.cells} cell(s){because}, {s.replicas_per_cell} replicas per cell** "
        f"({d.partitions} partitions each), {s.rate_per_cell:,.0f} fires/s per cell; "
        f"closest to the target: {s.limit}",
        "",
        "| resource (one cell) | utilisation |",
        "|---|---:|",
    ]
    lines += [f"| {res} | {pct(s.utilisation[res])} |" for res in RESOURCES]
    lines += [
        "",
        f"One cell moves: WAL {v['wal_mb_s']:,.0f} MB/s ({v['wal_tb_day']:,.1f} TB/day); "
        f"{v['run_rows_day']:,.0f} run rows/day; NATS {v['event_msgs_s']:,.0f} event + "
        f"{v['target_msgs_s']:,.0f} target msgs/s, {v['nats_ingress_mb_s']:,.0f} MB/s in, "
        f"{v['nats_stored_tb_day_all_replicas']:,.1f} TB/day stored over all "
        f"R{d.nats_replicas} copies; "
        f"{v['dedupe_ids_per_event_stream']:,.0f} message ids in a 10-min duplicate window "
        "per event stream.",
        "",
    ]
    return "\n".join(lines)


# -- command line ---------------------------------------------------------------------

OVERRIDES = {
    "instant_python_us": ("instant", "python_us"),
    "lease_python_us": ("lease", "python_us"),
    "instant_pg_us": ("instant", "pg_us"),
    "lease_pg_us": ("lease", "pg_us"),
    "instant_wal_bytes": ("instant", "wal_bytes"),
    "lease_wal_bytes": ("lease", "wal_bytes"),
    "instant_events": ("instant", "events_recurring"),
    "lease_events": ("lease", "events_recurring"),
}


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    doc = __doc__ or ""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--costs", type=Path, default=COSTS_FILE, help="per-fire costs (JSON)")
    for flag in OVERRIDES:
        p.add_argument("--" + flag.replace("_", "-"), type=float, help="override costs.json")
    p.add_argument("--event-bytes", type=float, help="override costs.json")
    p.add_argument("--target-bytes", type=float, help="override costs.json")
    defaults = Deployment()
    for name, value in asdict(defaults).items():
        p.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)
    p.add_argument("--workload", choices=["steady", "spike", "mix", "all"], default="all")
    p.add_argument("--rate", type=float, default=100_000, help="steady fires/s")
    p.add_argument("--schedules", type=int, default=10_000_000)
    p.add_argument("--spike", type=int, default=1_000_000, help="schedules due at once")
    p.add_argument("--jitter", type=float, default=0.0, help="mix: max_jitter in seconds")
    p.add_argument("--solve-rate", type=float, default=100_000, help="0: no solver")
    p.add_argument("--target-util", type=float, default=0.7)
    p.add_argument("--json", action="store_true")
    return p.parse_args(argv)


def costs_from(args: argparse.Namespace) -> Costs:
    costs = load_costs(args.costs)
    for flag, (path, name) in OVERRIDES.items():
        value = getattr(args, flag)
        if value is not None:
            cost = replace(getattr(costs, path), **{name: value})
            if name == "events_recurring":
                cost = replace(cost, events_one_shot=value + 1)
            costs = replace(costs, **{path: cost})
    if args.event_bytes is not None:
        costs = replace(costs, event_bytes=args.event_bytes)
    if args.target_bytes is not None:
        costs = replace(costs, target_bytes=args.target_bytes)
    return costs


def finite(value: Any) -> Any:
    """JSON has no infinity: an unused resource's capacity is null."""
    if isinstance(value, float) and math.isinf(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def run(argv: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """The text the command prints for ``argv``, and the same as a dict."""
    args = parse(argv)
    costs = costs_from(args)
    d = Deployment(**{k: getattr(args, k) for k in Deployment.__dataclass_fields__})
    chosen = {
        "steady": lambda: steady(args.rate, args.schedules),
        "spike": lambda: spike(args.spike),
        "mix": lambda: realistic(args.schedules, jitter_s=args.jitter),
    }
    names = list(chosen) if args.workload == "all" else [args.workload]
    reports = [simulate(chosen[n](), costs, d) for n in names]
    solution = solve(args.solve_rate, costs, d, args.target_util) if args.solve_rate else None
    out: dict[str, Any] = {
        "deployment": asdict(d),
        "costs": asdict(costs),
        "workloads": [asdict(r) for r in reports],
        "solution": asdict(solution) if solution else None,
    }
    if args.json:
        return json.dumps(finite(out), indent=2) + "\n", out
    parts = [f"deployment: {describe(d)}\n", *(render_report(r) for r in reports)]
    if solution:
        parts.append(render_solution(solution, d))
    return "\n".join(parts), out


# -- docs/scaling.md ------------------------------------------------------------------

DOC = Path(__file__).resolve().parents[1] / "docs" / "scaling.md"
BLOCK = re.compile(
    r"(<!-- simulate:(?P<args>[^>]*?)-->\n)(?P<body>.*?)(<!-- simulate: end -->)", re.S
)
COSTS_TABLE = re.compile(r"(<!-- costs table: begin -->\n)(.*?)(<!-- costs table: end -->)", re.S)


def costs_table(path: Path = COSTS_FILE) -> str:
    """bench/costs.json's measured figures as the document's table."""
    paths = json.loads(path.read_text())["paths"]
    order = ("lease", "instant", "baseline")

    def cell(name: str, key: str, unit: str) -> str:
        raw = paths[name]
        value = raw.get(key + "_range", f"{raw[key]:,g}")
        return f"{value}{unit}"

    rows = [
        ("Python CPU", "python_us", " µs"),
        ("PostgreSQL CPU", "pg_us", " µs"),
        ("WAL", "wal_bytes", " B"),
        ("outbox events, one-shot fire", "events_one_shot", ""),
        ("outbox events, recurring fire", "events_recurring", ""),
        ("target messages", "target_messages", ""),
    ]
    lines = [
        "| per fire | lease path | instant path | bare `SKIP LOCKED` loop |",
        "|---|---:|---:|---:|",
    ]
    for label, key, unit in rows:
        lines.append(f"| {label} | " + " | ".join(cell(n, key, unit) for n in order) + " |")
    return "\n".join(lines) + "\n"


def refresh(doc: str) -> str:
    """``doc`` with every simulation block replaced by its command's current output,
    and the costs table by bench/costs.json."""

    def block(m: re.Match[str]) -> str:
        args = shlex.split(m["args"])
        command = " ".join(["python bench/simulate.py", *args])
        text, _ = run(args)
        return f"{m.group(1)}```\n{command}\n```\n\n{text}{m.group(4)}"

    doc = COSTS_TABLE.sub(lambda m: m.group(1) + costs_table() + m.group(3), doc)
    return BLOCK.sub(block, doc)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["--update-doc"]:
        DOC.write_text(refresh(DOC.read_text()))
        print(f"{DOC} refreshed")
        return {}
    text, out = run(argv)
    print(text, end="")
    return out


if __name__ == "__main__":
    main()

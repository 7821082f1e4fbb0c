"""bench/simulate.py's arithmetic on cases small enough to work out by hand."""

from __future__ import annotations

import json
import math

import pytest

from bench.simulate import (
    DOC,
    NATS_EVENTS,
    PARTITIONS,
    PG_CPU,
    REPLICA_CPU,
    WAL,
    Costs,
    Deployment,
    PathCost,
    Segment,
    capacities,
    drain,
    load_costs,
    main,
    quantile,
    realistic,
    refresh,
    simulate,
    solve,
    spike,
    utilisation,
)


def path(**changes: float) -> PathCost:
    """100 µs of Python per fire, all of it in a partition's loops; everything else
    small enough never to be the bottleneck unless a test says otherwise."""
    fields = {
        "python_us": 100.0,
        "partition_python_us": 100.0,
        "partition_serial_us": 1.0,
        "pg_us": 1.0,
        "wal_bytes": 1.0,
        "events_one_shot": 2.0,
        "events_recurring": 1.0,
        "target_messages": 1.0,
        **changes,
    }
    return PathCost(**fields)


def costs(**changes: float) -> Costs:
    return Costs(instant=path(**changes), lease=path(**changes), event_bytes=1, target_bytes=1)


def cell(**changes: float) -> Deployment:
    fields: dict[str, float] = {
        "replicas": 1,
        "partitions": 2,
        "cores_per_replica": 1,
        "pg_cores": 1000,
        "wal_mb_s": 1000,
        "nats_stream_msgs_s": 1e9,
        "batch": 1000,
        "batch_overhead_ms": 0,
        **changes,
    }
    return Deployment(**fields)  # type: ignore[arg-type]


def test_two_replicas_halve_replica_cpu_utilisation() -> None:
    """2 partitions, 100 µs each fire: one replica does all of it (10,000 fires/s on
    its core, 50 % at 5,000/s); two replicas hold one partition each (25 %)."""
    one = utilisation(5000, capacities(costs(), cell(replicas=1)))
    two = utilisation(5000, capacities(costs(), cell(replicas=2)))
    assert one[REPLICA_CPU] == pytest.approx(0.5)
    assert two[REPLICA_CPU] == pytest.approx(0.25)


def test_uneven_partitions_load_the_busiest_replica() -> None:
    """3 partitions over 2 replicas: the busiest holds 2 of 3, so the deployment
    saturates at 1e6 / (100 x 2/3) = 15,000 fires/s, not 20,000."""
    caps = capacities(costs(), cell(partitions=3, replicas=2))
    assert caps[REPLICA_CPU] == pytest.approx(15_000)


def test_pool_work_spreads_over_every_replica() -> None:
    """Lease-path work outside the partitions (claim, record) is shared by all
    replicas: 4 replicas, 2 partitions, 40 µs partition-bound + 60 µs pool work gives
    the busiest replica 40 x 1/2 + 60 / 4 = 35 µs per fire."""
    caps = capacities(costs(partition_python_us=40), cell(replicas=4))
    assert caps[REPLICA_CPU] == pytest.approx(1e6 / 35)


def test_a_partition_uses_at_most_one_core() -> None:
    """One partition on a 4-core replica: its serial loop runs on one core, so the
    capacity is 1e6 / 100 = 10,000 fires/s, not 40,000."""
    caps = capacities(costs(), cell(partitions=1, cores_per_replica=4))
    assert caps[REPLICA_CPU] == pytest.approx(10_000)


def test_partition_loops_are_serial_per_partition() -> None:
    """Batch 100 at 50 µs serial per fire plus 5 ms overhead = 10 ms per batch, so each
    partition does 10,000 fires/s and 4 partitions 40,000."""
    caps = capacities(
        costs(partition_serial_us=50), cell(partitions=4, batch=100, batch_overhead_ms=5)
    )
    assert caps[PARTITIONS] == pytest.approx(40_000)


def test_the_smallest_capacity_saturates_first() -> None:
    """1,000 WAL bytes per fire on a 1 MB/s disk carry 1,000 fires/s, less than
    anything else here: WAL is the bottleneck and a spike drains at its rate."""
    report = simulate(spike(5000), costs(wal_bytes=1000), cell(wal_mb_s=1))
    assert report.saturates_first == WAL
    assert report.drain_rate == pytest.approx(1000)
    assert report.utilisation_draining[WAL] == pytest.approx(1.0)
    assert report.utilisation_draining[PG_CPU] < 1.0


def test_a_spike_of_n_fires_at_rate_r_drains_in_n_over_r() -> None:
    """10,000 fires at once through 1,000 fires/s: 10 s to drain; lateness is uniform
    over [0, 10] s, so p50 = 5 s, p99 = 9.9 s, max = 10 s."""
    result = drain([(0.0, 10_000.0)], 1000.0)
    assert result.drain_s == pytest.approx(10.0)
    assert result.peak_backlog == pytest.approx(10_000)
    assert result.p50_s == pytest.approx(5.0)
    assert result.p99_s == pytest.approx(9.9)
    assert result.max_s == pytest.approx(10.0)


def test_a_cohort_waits_for_the_backlog_ahead_of_it() -> None:
    """1,000 fires at 0 s and 1,000 at 0.5 s through 1,000 fires/s: the second cohort
    starts at 1 s (0.5 s late already) and ends at 2 s; at its arrival 1,500 wait."""
    result = drain([(0.0, 1000.0), (0.5, 1000.0)], 1000.0)
    assert result.drain_s == pytest.approx(2.0)
    assert result.peak_backlog == pytest.approx(1500)
    assert result.max_s == pytest.approx(1.5)


def test_a_load_below_capacity_has_no_backlog() -> None:
    """10 fires every 0.1 s through 1,000 fires/s: each cohort is done in 10 ms, before
    the next arrives; lateness never passes 10 ms plus the batch time given."""
    cohorts = [(i * 0.1, 10.0) for i in range(50)]
    result = drain(cohorts, 1000.0, lambda n: 0.002)
    assert result.drain_s == pytest.approx(0.01)
    assert result.peak_backlog == pytest.approx(10)
    assert result.max_s == pytest.approx(0.012)


def test_quantile_of_a_mixture_of_uniforms() -> None:
    """Equal weights on [0, 1] and [1, 3]: half the mass is below 1, three quarters
    below 2."""
    segments = [Segment(0.0, 1.0, 1.0), Segment(1.0, 3.0, 1.0)]
    assert quantile(segments, 0.5) == pytest.approx(1.0)
    assert quantile(segments, 0.75) == pytest.approx(2.0)


def test_events_per_fire_mix_the_paths() -> None:
    """Half the fires on a 1-event path, half on a 3-event one: 2 events per fire, so a
    10,000 msgs/s stream carries 5,000 fires/s; two streams 10,000."""
    c = Costs(
        instant=path(events_recurring=1),
        lease=path(events_recurring=3),
        event_bytes=1,
        target_bytes=1,
    )
    d = cell(nats_stream_msgs_s=10_000, instant_share=0.5)
    assert capacities(c, d)[NATS_EVENTS] == pytest.approx(5000)
    assert capacities(c, cell(nats_stream_msgs_s=10_000, instant_share=0.5, event_streams=2))[
        NATS_EVENTS
    ] == pytest.approx(10_000)


def test_one_shot_fires_add_their_extra_event() -> None:
    """All one-shot: 2 events per fire on a 10,000 msgs/s stream, 5,000 fires/s."""
    d = cell(nats_stream_msgs_s=10_000, one_shot_share=1.0)
    assert capacities(costs(), d)[NATS_EVENTS] == pytest.approx(5000)


def test_solver_adds_cells_for_a_shared_resource_then_counts_replicas() -> None:
    """PostgreSQL carries 10,000 fires/s (100 µs on 1 core); 12,000 fires/s is 120 %,
    so 2 cells of 6,000 (60 %). Each cell: 200 µs partition-bound Python, 4 partitions;
    1 replica carries 5,000 (120 %), 2 carry 10,000 (60 %)."""
    c = costs(python_us=200, partition_python_us=200, pg_us=100)
    d = cell(partitions=4, pg_cores=1)
    solution = solve(12_000, c, d, target=0.7)
    assert (solution.cells, solution.replicas_per_cell) == (2, 2)
    assert solution.cells_because == PG_CPU
    assert solution.utilisation[PG_CPU] == pytest.approx(0.6)
    assert solution.utilisation[REPLICA_CPU] == pytest.approx(0.6)


def test_solver_splits_when_partitions_are_too_coarse() -> None:
    """One partition at 1,000 µs per fire tops out at 1,000 fires/s whatever the
    replica count; 1,000 fires/s at 70 % needs a second cell (500 each, 50 %)."""
    c = costs(python_us=1000, partition_python_us=1000)
    solution = solve(1000, c, cell(partitions=1), target=0.7)
    assert (solution.cells, solution.replicas_per_cell) == (2, 1)
    assert solution.cells_because is not None
    assert "partitions too coarse" in solution.cells_because


def test_the_mix_workload_counts_its_fires() -> None:
    """600 schedules, half hourly (5 per minute) and half every minute (300 per minute),
    two zones with daily share 0: 305 fires at each of 60 minute boundaries."""
    w = realistic(600, hourly=0.5, minutely=0.5, daily=0.0, zones=2)
    assert len(w.cohorts) == 60
    assert sum(n for _, n in w.cohorts) == pytest.approx(305 * 60)
    assert {t for t, _ in w.cohorts} == {60.0 * m for m in range(60)}


def test_daily_fires_land_on_the_busiest_zone_hour() -> None:
    """Three zones, two sharing a UTC offset (Mexico City and Chicago, −6 h: midnight at
    06:00 UTC): that hour holds 2/3 of the daily fires, at minute 0."""
    zones = realistic(300, hourly=0.0, minutely=0.0, daily=1.0, zones=6)
    [(at, fires)] = zones.cohorts
    assert at == 0.0
    assert fires == pytest.approx(100.0)


def test_the_shipped_costs_parse_and_overrides_apply(capsys: pytest.CaptureFixture[str]) -> None:
    """bench/costs.json loads; ``--lease-events 4`` makes a recurring lease fire 4
    events and a one-shot one 5; ``--json`` prints JSON with null for infinity."""
    shipped = load_costs()
    assert shipped.lease.python_us > 0
    assert shipped.instant.wal_bytes > 0
    out = main(["--workload", "spike", "--lease-events", "4", "--instant-events", "0", "--json"])
    assert out["costs"]["lease"]["events_recurring"] == 4
    assert out["costs"]["lease"]["events_one_shot"] == 5
    printed = json.loads(capsys.readouterr().out)
    assert printed["workloads"][0]["capacity"][NATS_EVENTS] is None
    assert math.isinf(out["workloads"][0]["capacity"][NATS_EVENTS])


def test_the_scaling_doc_shows_the_current_output() -> None:
    """docs/scaling.md's costs table and simulation blocks are what bench/costs.json and
    the commands it shows give today; after changing either, run
    ``python bench/simulate.py --update-doc``."""
    doc = DOC.read_text()
    assert "<!-- simulate: -->" in doc
    assert refresh(doc) == doc

"""Partitions (domain/partitions.py): a schedule's partition from its id, lease names,
an event's partition key, and how the replicas share the partitions out."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest

from domain.events import DomainEvent, EventType
from domain.ids import TenantId, new_id
from domain.partitions import (
    DEFAULT_PARTITIONS,
    assign,
    event_key,
    lease_name,
    moved,
    parse_partitions,
    partition_from_lease,
    partition_of,
    shares,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def names(n: int) -> list[str]:
    return [f"replica-{i}" for i in range(n)]


def test_a_partition_is_the_ids_last_32_bits_modulo_the_count() -> None:
    assert partition_of(uuid.UUID("01900000-0000-7000-8000-00000000000a"), 64) == 10
    assert partition_of(uuid.UUID("01900000-0000-7000-8000-0000ffffffff"), 64) == 63
    # The bits above the last 32 (a version 7 id's timestamp among them) do not count.
    assert partition_of(uuid.UUID("ffffffff-ffff-7fff-bfff-ffff00000041"), 64) == 1
    assert partition_of(uuid.UUID("01900000-0000-7000-8000-000000000041"), 1) == 0
    with pytest.raises(ValueError, match="at least 1"):
        partition_of(uuid.uuid4(), 0)


def test_ids_made_in_one_burst_spread_over_the_partitions() -> None:
    found = Counter(partition_of(new_id(), DEFAULT_PARTITIONS) for _ in range(6400))
    assert len(found) == DEFAULT_PARTITIONS
    assert max(found.values()) < 3 * 100  # about 100 each


def test_lease_names_sort_as_their_partitions_and_parse_back() -> None:
    assert lease_name(7) == "partition/07"
    assert lease_name(7, 1000) == "partition/007"
    every = [lease_name(p) for p in range(DEFAULT_PARTITIONS)]
    assert sorted(every) == every
    assert [partition_from_lease(n) for n in every] == list(range(DEFAULT_PARTITIONS))
    assert partition_from_lease("scheduler") is None
    assert partition_from_lease("partition/x") is None
    assert parse_partitions(["partition/03", "scheduler", "partition/01"]) == [1, 3]


def event(type: EventType, aggregate: uuid.UUID, **data: object) -> DomainEvent:
    return DomainEvent.of(
        type,
        tenant_id=TenantId("acme"),
        aggregate_id=aggregate,
        revision=1,
        occurred_at=NOW,
        data=data,
    )


def test_a_runs_events_go_with_its_schedule_and_others_with_their_aggregate() -> None:
    run, schedule, job = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    started = event(EventType.RUN_STARTED, run, schedule_id=str(schedule))
    assert event_key(started) == schedule
    updated = event(EventType.SCHEDULE_UPDATED, schedule, schedule_id=str(schedule))
    assert event_key(updated) == schedule
    assert event_key(event(EventType.JOB_DELETED, job)) == job
    # A run event without a readable schedule id falls back to its aggregate.
    assert event_key(event(EventType.RUN_FAILED, run, schedule_id="not-an-id")) == run


@pytest.mark.parametrize("count", [1, 7, 64, 256])
def test_every_partition_has_one_owner_and_shares_differ_by_at_most_one(count: int) -> None:
    for n in range(1, 11):
        owner = assign(count, names(n))
        assert sorted(owner) == list(range(count))
        loads = Counter(owner.values())
        held = [loads.get(name, 0) for name in names(n)]
        assert max(held) - min(held) <= 1, (n, held)
        assert sum(held) == count


def test_the_assignment_depends_only_on_the_set_of_names() -> None:
    assert assign(64, ["b", "a", "c"]) == assign(64, ["c", "a", "b", "a"])
    assert assign(64, []) == {}
    assert set(assign(64, ["solo"]).values()) == {"solo"}


def test_more_replicas_than_partitions_leave_some_without_any() -> None:
    owner = assign(4, names(6))
    assert sorted(owner) == [0, 1, 2, 3]
    assert len(set(owner.values())) == 4


@pytest.mark.parametrize("n", range(1, 9))
def test_a_join_or_a_leave_moves_few_partitions(n: int) -> None:
    """A replica joining n moves at most about twice its fair share (rendezvous
    hashing: most partitions stay); one leaving n + 1 likewise."""
    before = assign(64, names(n))
    after = assign(64, [*names(n), "newcomer"])
    fair = -(-64 // (n + 1))
    assert len(moved(before, after)) <= 2 * fair
    assert set(shares(after)["newcomer"]) <= moved(before, after)
    if n > 1:
        left = assign(64, names(n)[1:])
        assert len(moved(before, left)) <= 2 * -(-64 // (n - 1))
        assert set(shares(before)[names(n)[0]]) <= moved(before, left)

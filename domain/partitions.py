"""Partitions of the scheduler's work (docs/semantics.md, *Leadership*).

Every schedule belongs to one of a fixed number of partitions (``DEFAULT_PARTITIONS``
unless the deployment's migration stored another count), derived from its id, so it
never moves. Its runs and their events carry the same partition; an event of anything
else (a job, a worker) gets its aggregate's. Each partition has a lease of its own
(``lease_name``) and the replicas share the partitions out with ``assign``.

``partition_of`` must agree with SQL's ``kairos_partition(id, count)`` (migration 0024):
the last 32 bits of the id, modulo the count. Those are random bits both in a version 4
and a version 7 UUID (not the timestamp at the front of a version 7 one).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Collection, Iterable, Mapping

from domain.events import DomainEvent

DEFAULT_PARTITIONS = 64
PREFIX = "partition/"


def partition_of(id: uuid.UUID, count: int) -> int:
    """The partition an id belongs to, among ``count``."""
    if count < 1:
        raise ValueError("the partition count must be at least 1")
    return (id.int & 0xFFFF_FFFF) % count


def event_key(event: DomainEvent) -> uuid.UUID:
    """The id an event's partition derives from: a run's events go with its schedule
    (one partition per schedule and its runs, so a relay sees them in commit order);
    any other event goes with its aggregate."""
    schedule = (
        event.data.get("schedule_id") if event.type.value.startswith("scheduler.run.") else None
    )
    if isinstance(schedule, str):
        try:
            return uuid.UUID(schedule)
        except ValueError:
            pass
    return event.aggregate_id


def lease_name(partition: int, count: int = DEFAULT_PARTITIONS) -> str:
    """The name of a partition's lease row (``partition/07``): zero-padded so names
    sort as numbers do."""
    width = max(2, len(str(count - 1)))
    return f"{PREFIX}{partition:0{width}d}"


def partition_from_lease(name: str) -> int | None:
    """The partition a lease name stands for, or None (the cluster-wide lease)."""
    if not name.startswith(PREFIX):
        return None
    digits = name[len(PREFIX) :]
    return int(digits) if digits.isdigit() else None


def _weight(replica: str, partition: int) -> int:
    digest = hashlib.blake2b(f"{replica}/{partition}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def assign(count: int, replicas: Collection[str]) -> dict[int, str]:
    """Which replica should lead each partition: rendezvous (highest random weight)
    hashing with bounded load. Every (partition, replica) pair has a weight; pairs are
    taken heaviest first, each partition once, no replica past ``count // replicas``;
    the partitions left over then go the same way to replicas that have no extra one
    yet. So the shares differ by at most one, the answer depends only on the set of
    names (every replica computes the same), and a replica joining or leaving moves
    few partitions: mostly the ones whose heaviest pair involves it."""
    names = sorted(set(replicas))
    if not names:
        return {}
    pairs = sorted(
        ((_weight(name, p), name, p) for p in range(count) for name in names),
        key=lambda pair: (-pair[0], pair[1], pair[2]),
    )
    owner: dict[int, str] = {}
    load = dict.fromkeys(names, 0)
    floor = count // len(names)
    for cap in (floor, floor + 1):
        for _, name, p in pairs:
            if len(owner) == count:
                return owner
            if p in owner or load[name] >= cap:
                continue
            owner[p] = name
            load[name] += 1
    return owner


def shares(owner: Mapping[int, str]) -> dict[str, list[int]]:
    """``assign``'s answer by replica: each one's partitions, ascending."""
    found: dict[str, list[int]] = {}
    for p in sorted(owner):
        found.setdefault(owner[p], []).append(p)
    return found


def moved(before: Mapping[int, str], after: Mapping[int, str]) -> set[int]:
    """Partitions whose owner differs between two assignments."""
    return {p for p in set(before) | set(after) if before.get(p) != after.get(p)}


def parse_partitions(names: Iterable[str]) -> list[int]:
    """The partitions among lease names, ascending (other leases left out)."""
    return sorted(p for p in (partition_from_lease(n) for n in names) if p is not None)

"""Who leads what among the scheduler's replicas (``GET /admin/replicas``, ``kairos get
replicas``, the readiness check): the membership rows, each partition's lease (holder,
epoch, live) and the cluster-wide lease (docs/semantics.md, *Leadership*)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from domain.partitions import PREFIX, partition_from_lease
from domain.ports import LEADER, Database, NamedLease


@dataclass(frozen=True, slots=True)
class ReplicaShare:
    name: str
    live: bool  # its membership row has not expired (False: known only from a lease)
    started_at: datetime | None
    seen_at: datetime | None
    partitions: dict[int, int] = field(default_factory=dict)  # live leases: partition -> epoch
    leader_epoch: int | None = None  # the cluster-wide lease's, when it holds it


@dataclass(frozen=True, slots=True)
class ReplicasReport:
    now: datetime
    partitions: int  # the deployment's count
    replicas: list[ReplicaShare]
    leases: dict[int, NamedLease]  # every stored partition lease, by partition
    leader: NamedLease | None  # the cluster-wide lease as stored

    def unleased(self, longer_than: timedelta = timedelta(0)) -> list[int]:
        """Partitions with no live lease (no row, or lapsed more than ``longer_than``
        ago)."""
        found = []
        for p in range(self.partitions):
            lease = self.leases.get(p)
            if lease is None or (not lease.live and lease.expires_at < self.now - longer_than):
                found.append(p)
        return found


async def replicas_report(db: Database) -> ReplicasReport:
    """The membership and the leases as stored now (a system read)."""
    async with db.system() as tx:
        now = await tx.now()
        count = await tx.leader.partition_count()
        members = await tx.leader.members()
        leases = await tx.leader.all(PREFIX)
        cluster = [lease for lease in await tx.leader.all(LEADER) if lease.name == LEADER]
    by_partition = {
        p: lease for lease in leases if (p := partition_from_lease(lease.name)) is not None
    }
    shares: dict[str, ReplicaShare] = {
        m.name: ReplicaShare(m.name, m.live, m.started_at, m.seen_at) for m in members
    }
    leader = cluster[0] if cluster else None
    for p, lease in sorted(by_partition.items()):
        if lease.live:
            share = shares.setdefault(lease.holder, ReplicaShare(lease.holder, False, None, None))
            share.partitions[p] = lease.epoch
    if leader is not None and leader.live:
        share = shares.setdefault(leader.holder, ReplicaShare(leader.holder, False, None, None))
        shares[leader.holder] = ReplicaShare(
            share.name,
            share.live,
            share.started_at,
            share.seen_at,
            share.partitions,
            leader.epoch,
        )
    ordered = sorted(shares.values(), key=lambda s: (not s.live, s.name))
    return ReplicasReport(now, count, ordered, by_partition, leader)

"""Leadership among the scheduler's replicas: the leader lease row and the presence marks
bound to a replica's own database session."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol


@dataclass(frozen=True, slots=True)
class LeaseState:
    """The stored leader lease: who holds it, at which epoch, and whether it is still
    live at the database's clock."""

    holder: str
    epoch: int
    live: bool


@dataclass(frozen=True, slots=True)
class NamedLease:
    """One stored lease row, for listings (health, ``GET /replicas``)."""

    name: str
    holder: str
    epoch: int
    live: bool
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Member:
    """A scheduler replica as its membership row says: live while it beats."""

    name: str
    started_at: datetime
    seen_at: datetime
    live: bool


# The cluster-wide lease (its holder re-plans next fires on a tzdata change and marks
# silent workers offline): its name in ``leader_lease``. Each partition's work runs
# under that partition's own lease (``domain.partitions.lease_name``).
LEADER = "scheduler"


class LeaderLease(Protocol):
    """The leader lease row: the truth about who leads. No method holds it for longer
    than the statement, except ``fence``, whose lock (until commit) only orders a
    takeover after the fenced commit. Times are the database's clock at the statement
    (``clock_timestamp()``), not the transaction's start."""

    async def read(self, name: str) -> LeaseState | None:
        """The lease as stored (None: nobody ever led)."""
        ...

    async def renew(self, name: str, holder: str, epoch: int, ttl: timedelta) -> bool:
        """Extend the lease to now + ``ttl`` while ``holder`` leads at ``epoch`` and it
        has not expired; False otherwise. Never waits for a fenced pass."""
        ...

    async def take(
        self, name: str, holder: str, ttl: timedelta, *, seen: int | None, vacated: bool = False
    ) -> int | None:
        """Take the lease over at epoch ``seen + 1`` (1 when ``seen`` is None: no row)
        if it is still at ``seen`` and has expired, or, with ``vacated``, at once (the
        caller knows the holder of ``seen`` is gone); returns the new epoch or None.
        Waits at most until a fenced pass of the old epoch commits."""
        ...

    async def release(self, name: str, holder: str, epoch: int) -> None:
        """Let the lease expire now if ``holder`` still leads at ``epoch`` (a clean stop:
        another replica may take over at once)."""
        ...

    async def check(self, name: str, holder: str, epoch: int) -> None:
        """Raise ``NotLeader`` unless ``holder`` leads at ``epoch`` now. Holds nothing:
        the cheap early exit of a leader-only pass."""
        ...

    async def fence(self, name: str, holder: str, epoch: int) -> None:
        """The last statement of a leader-only pass: raise ``NotLeader`` unless
        ``holder`` leads at ``epoch`` now. A takeover then waits until this transaction
        ends, so every commit of an epoch comes before the next epoch begins; renewals
        never wait for it."""
        ...

    async def current(self, name: str) -> tuple[str, int] | None:
        """The live leader's holder and epoch, or None when the lease has lapsed."""
        ...

    async def check_all(self, holder: str, leases: Sequence[tuple[str, int]]) -> None:
        """``check`` for several leases (name, epoch) at once: ``NotLeader`` unless
        ``holder`` leads every one of them now."""
        ...

    async def fence_all(self, holder: str, leases: Sequence[tuple[str, int]]) -> None:
        """``fence`` for several leases at once (locked in name order)."""
        ...

    async def renew_all(
        self, holder: str, leases: Sequence[tuple[str, int]], ttl: timedelta
    ) -> set[str]:
        """``renew`` for several leases in one statement: the names renewed."""
        ...

    async def all(self, prefix: str) -> Sequence[NamedLease]:
        """Every stored lease whose name starts with ``prefix``, by name."""
        ...

    async def partition_count(self) -> int:
        """The deployment's partition count (fixed by its migration)."""
        ...

    async def beat(self, replica: str, ttl: timedelta) -> None:
        """Record that ``replica`` runs, until now + ``ttl``."""
        ...

    async def leave(self, replica: str) -> None:
        """A clean stop: ``replica`` is no member any more."""
        ...

    async def members(self) -> Sequence[Member]:
        """Every replica's membership row (live or not), by name."""
        ...


class LeaderPresence(Protocol):
    """A replica's marks bound to its own database session: held until dropped or until
    the session ends (the process was killed, its connection lost). The holder of epoch
    N holds mark N, taken before its takeover commits, so a free mark of the current
    epoch means its holder is gone, long before its lease expires."""

    async def hold(self, name: str, epoch: int) -> bool:
        """Take mark ``epoch`` of ``name`` unless another session holds it; True when
        this presence holds it now (taking a mark already held is a no-op)."""
        ...

    async def vacant(self, name: str, epoch: int) -> bool:
        """Whether no live session holds mark ``epoch`` (a probe that keeps nothing)."""
        ...

    async def drop(self, name: str, epoch: int) -> None:
        """Let go of a mark this presence holds (no-op otherwise)."""
        ...

    def lease(self) -> AbstractAsyncContextManager[LeaderLease]:
        """A transaction on this presence's own session, for the lease row: renewals and
        takeovers never wait for a connection of the pool that passes and workers share."""
        ...

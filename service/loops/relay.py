"""The outbox relay: committed events reach JetStream exactly once, in commit order.

Events wait in the outbox until the stream acknowledges them; an outage only delays
them. A crash between the ack and the mark republishes a few events, which JetStream's
duplicate window (keyed by event id) drops.
"""

from __future__ import annotations

from domain.ports import Database, EventPublisher
from service.loops.leadership import Fence, fenced
from service.telemetry import NO_METRICS, Metrics


async def relay_once(
    db: Database,
    publisher: EventPublisher,
    *,
    fence: Fence,
    limit: int = 1000,
    metrics: Metrics = NO_METRICS,
) -> int:
    """Relay one batch; returns how many events were published. Raises
    ``ConnectionError`` when the stream acknowledged fewer than the batch (the rest
    stays pending), ``NotLeader`` when ``fence`` no longer leads: a deposed leader
    deletes no outbox row (what it published meanwhile is republished by the leader, and
    the stream's duplicate window drops the copy). Only the events of ``fence``'s
    partitions: each partition's in commit order."""
    async with fenced(db, fence) as tx:
        records = await tx.outbox.pending(limit, fence.partitions)
        if not records:
            return 0
        acked = await publisher.publish_many([r.event for r in records])
        await tx.outbox.mark_published([r.seq for r in records[:acked]])
    metrics.events_published([r.event.type.value for r in records[:acked]])
    if acked < len(records):
        raise ConnectionError(f"stream acknowledged {acked} of {len(records)} events")
    return acked

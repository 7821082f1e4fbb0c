"""The outbox relay: committed events reach JetStream exactly once, in commit order.

Events wait in the outbox until the stream acknowledges them; an outage only delays
them. A crash between the ack and the mark republishes a few events, which JetStream's
duplicate window (keyed by event id) drops.
"""

from __future__ import annotations

from domain.ports import Database, EncodedOutbox, EncodedPublisher, EventPublisher
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
        outbox = tx.outbox
        if isinstance(outbox, EncodedOutbox) and isinstance(publisher, EncodedPublisher):
            # Rows kept in the stream's form go out as they are (no decoding and
            # re-encoding per event: most of a relay's time in a burst).
            encoded = await outbox.pending_encoded(limit, fence.partitions)
            acked = await publisher.publish_encoded(encoded) if encoded else 0
            seqs = [r.seq for r in encoded]
            types = [r.type for r in encoded[:acked]]
        else:
            records = await outbox.pending(limit, fence.partitions)
            acked = await publisher.publish_many([r.event for r in records]) if records else 0
            seqs = [r.seq for r in records]
            types = [r.event.type.value for r in records[:acked]]
        if not seqs:
            return 0
        await outbox.mark_published(seqs[:acked])
    metrics.events_published(types)
    if acked < len(seqs):
        raise ConnectionError(f"stream acknowledged {acked} of {len(seqs)} events")
    return acked

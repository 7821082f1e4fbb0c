"""From local wall readings to fire instants, under the DST rules of docs/semantics.md,
*Daylight saving time*.

A rule yields wall readings in increasing order; each is resolved in the zone:

- periodic rules run on absolute time: a reading in a gap does not exist and is not
  fired (nor recorded: it is not a fire); a reading in a fold is fired at both instants;
- fixed rules fire once per local occurrence: gap -> ``shift`` (offset before the
  transition) or ``skip`` (a skipped fire, reason ``dst_gap``, identified by the shifted
  instant); fold -> ``first``, ``second`` or ``both``.

Resolved instants are not always in reading order (``both`` interleaves with the next
readings; a shifted gap reading can land on or after a later reading, as on the day
Pacific/Apia skipped), so a small heap reorders them. A reading that resolves uniquely
proves every later instant is larger than its own, which lets the heap drain at once;
in the common case (no transition nearby) nothing is ever pushed. Two readings that
resolve to the same instant are one fire (the instant is the fire's identity); a real
fire wins over a skipped record at the same instant.
"""

from __future__ import annotations

import enum
import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from domain.zones import MAX_ABS_OFFSET, WallKind, Zone


class SkipReason(enum.StrEnum):
    DST_GAP = "dst_gap"
    CALENDAR = "calendar"
    CALENDAR_COLLISION = "calendar_collision"
    WINDOW = "window"
    OVERLAP = "overlap"


class GapPolicy(enum.StrEnum):
    SHIFT = "shift"
    SKIP = "skip"


class FoldPolicy(enum.StrEnum):
    FIRST = "first"
    SECOND = "second"
    BOTH = "both"


NOTE_GAP_SHIFTED = "shifted: DST gap"
NOTE_FOLD_FIRST = "DST fold: first occurrence"
NOTE_FOLD_SECOND = "DST fold: second occurrence"
NOTE_REPEATED = "DST fold: repeated reading"

# Heap entries: (instant, status, adjusted, sequence, note); status 0 = fire, 1 = skipped,
# so at equal instants a fire pops first and the skip is dropped as a duplicate; among
# fires, a reading that exists as written (adjusted 0) wins over a shifted/fold one.
_FIRE = 0
_SKIP = 1


@dataclass(frozen=True, slots=True)
class Fire:
    """One fire time produced by a rule: its nominal instant (UTC) and how it came about."""

    nominal_at: datetime
    skipped: SkipReason | None = None
    note: str | None = None


def resolve_walls(
    walls: Iterator[int],
    zone: Zone,
    *,
    periodic: bool,
    gap: GapPolicy,
    fold: FoldPolicy,
) -> Iterator[tuple[int, int, str | None]]:
    """Resolve readings to ``(instant, status, note)`` with strictly increasing instants."""
    heap: list[tuple[int, int, int, int, str | None]] = []
    last: int | None = None
    seq = 0
    resolve = zone.resolve
    unique = WallKind.UNIQUE
    for w in walls:
        kind, early, late = resolve(w)
        if kind is unique:
            if not heap:
                if last is None or early > last:
                    last = early
                    yield early, _FIRE, None
                continue
            heapq.heappush(heap, (early, _FIRE, 0, seq, None))
            seq += 1
            watermark = early
        else:
            watermark = w - MAX_ABS_OFFSET
            if kind is WallKind.GAP:
                if not periodic:
                    status = _FIRE if gap is GapPolicy.SHIFT else _SKIP
                    note = NOTE_GAP_SHIFTED if status == _FIRE else None
                    heapq.heappush(heap, (early, status, 1, seq, note))
                    seq += 1
            elif periodic:
                heapq.heappush(heap, (early, _FIRE, 1, seq, NOTE_REPEATED))
                heapq.heappush(heap, (late, _FIRE, 1, seq + 1, NOTE_REPEATED))
                seq += 2
            else:
                if fold is not FoldPolicy.SECOND:
                    heapq.heappush(heap, (early, _FIRE, 1, seq, NOTE_FOLD_FIRST))
                    seq += 1
                if fold is not FoldPolicy.FIRST:
                    heapq.heappush(heap, (late, _FIRE, 1, seq, NOTE_FOLD_SECOND))
                    seq += 1
        while heap and heap[0][0] <= watermark:
            instant, status, _, _, note = heapq.heappop(heap)
            if last is not None and instant <= last:
                continue
            last = instant
            yield instant, status, note
    while heap:
        instant, status, _, _, note = heapq.heappop(heap)
        if last is not None and instant <= last:
            continue
        last = instant
        yield instant, status, note

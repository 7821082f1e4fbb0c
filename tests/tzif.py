"""Compiled zone files (TZif, RFC 8536) written by tests: rules that move a transition.

A version-2 file: one block of 64-bit transition times, the local time types, and a
POSIX TZ footer for instants after the last transition.
"""

from __future__ import annotations

import struct
from datetime import datetime
from pathlib import Path

from adapters.zoneinfo_source import DirectoryZoneSource


def tzif(transitions: list[tuple[datetime, int]], *, initial: int, footer: str) -> bytes:
    """``initial`` offset (seconds) until the first of ``transitions`` (instant, offset)."""
    offsets = [initial] + [offset for _, offset in transitions]
    kinds = sorted(set(offsets), key=offsets.index)
    names = b"".join(f"{_abbr(o)}\0".encode() for o in kinds)
    index = {o: names.index(f"{_abbr(o)}\0".encode()) for o in kinds}
    times = [int(at.timestamp()) for at, _ in transitions]

    def block(size: str) -> bytes:
        out = struct.pack(">6l", 0, 0, 0, len(times), len(kinds), len(names))
        out += b"".join(struct.pack(f">{size}", t) for t in times)
        out += bytes(kinds.index(o) for _, o in transitions)
        out += b"".join(struct.pack(">lBB", o, int(o != initial), index[o]) for o in kinds)
        return out + names

    header = b"TZif2" + b"\0" * 15
    return header + block("l") + header + block("q") + f"\n{footer}\n".encode()


def _abbr(offset: int) -> str:
    hours, rest = divmod(offset, 3600)
    return f"<{hours:+03d}{rest // 60:02d}>" if rest else f"<{hours:+03d}>"


def write_tree(root: Path, version: str, zones: dict[str, bytes]) -> Path:
    """A zoneinfo directory like ``zic -d`` makes, with its ``tzdata.zi`` version line."""
    root.mkdir(parents=True, exist_ok=True)
    for name, data in zones.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "tzdata.zi").write_text(f"# version {version}\n", encoding="ascii")
    return root


def berlin_tree(root: Path, version: str, moved_at: datetime | None) -> DirectoryZoneSource:
    """A release in which Berlin is +01 for good, or until ``moved_at`` and +02 after."""
    berlin = (
        tzif([], initial=3600, footer="<+01>-1")
        if moved_at is None
        else tzif([(moved_at, 7200)], initial=3600, footer="<+02>-2")
    )
    utc = tzif([], initial=0, footer="UTC0")
    return DirectoryZoneSource(
        write_tree(root / version, version, {"Europe/Berlin": berlin, "UTC": utc})
    )

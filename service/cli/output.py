"""How the operator commands print: aligned plain-text tables by default, or exactly
the API's JSON (``-o json``) or the same document as YAML (``-o yaml``).

Times in tables are ISO 8601 UTC to the second (``2026-03-01T12:00:00Z``), with a
relative form (``in 4m``, ``3h ago``) where a person reads them against now. Colour
only on a terminal, and never with ``NO_COLOR`` set.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import yaml

FORMATS = ("table", "json", "yaml")
_COLOURS = {
    "succeeded": "32",
    "enabled": "32",
    "online": "32",
    "dead": "31",
    "failed": "31",
    "cancelled": "33",
    "paused": "33",
    "draining": "33",
    "running": "36",
}


def document(doc: Any, fmt: str) -> str:
    """The API's document as JSON (as the API sent it) or YAML."""
    if fmt == "yaml":
        text: str = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
        return text.rstrip("\n")
    return json.dumps(doc, indent=2, ensure_ascii=False)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, colour: bool = False) -> str:
    """Columns aligned with two spaces between them, no trailing blanks. With
    ``colour``, a cell naming a status is coloured (the width counts its text only)."""
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    lines = []
    for n, row in enumerate([headers, *rows]):
        cells = []
        for i, cell in enumerate(row):
            padded = cell.ljust(widths[i]) if i < len(row) - 1 else cell
            code = _COLOURS.get(cell) if colour and n > 0 else None
            cells.append(f"\x1b[{code}m{cell}\x1b[0m{padded[len(cell) :]}" if code else padded)
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def fields(pairs: Sequence[tuple[str, str]]) -> str:
    """``Label:  value`` lines, the values aligned."""
    width = max((len(label) for label, _ in pairs), default=0) + 1
    return "\n".join(f"{(label + ':').ljust(width)}  {value}".rstrip() for label, value in pairs)


def instant(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def utc(value: str | None) -> str:
    """An API instant as ISO 8601 UTC to the second, ``-`` for none."""
    parsed = instant(value)
    if parsed is None:
        return value or "-"
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def relative(value: str | None, now: datetime) -> str:
    """``in 4m``, ``3h ago``, ``now``: the distance from ``now`` in its largest unit
    (two units below a day)."""
    parsed = instant(value)
    if parsed is None:
        return "-"
    seconds = round((parsed - now).total_seconds())
    ahead, rest = seconds > 0, abs(seconds)
    if rest < 1:
        return "now"
    parts = []
    for size, unit in ((86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")):
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
        if len(parts) == 2 or (parts and parts[0].endswith("d")):
            break
    text = " ".join(parts)
    return f"in {text}" if ahead else f"{text} ago"


def when(value: str | None, now: datetime) -> str:
    """ISO UTC and, for a person, how far from now: ``2026-03-01T12:00:00Z (in 4m)``."""
    if not value:
        return "-"
    return f"{utc(value)} ({relative(value, now)})"


def trigger_text(trigger: Mapping[str, Any]) -> str:
    """A schedule's trigger in one short cell."""
    kind = str(trigger.get("type", "?"))
    if kind == "CRON":
        return f"cron {trigger.get('expression', '')}"
    if kind == "RRULE":
        return "rrule " + str(trigger.get("rrule", "")).replace("\n", " ")
    if kind == "FIXED_DELAY":
        return f"every {trigger.get('every', '')} ({trigger.get('mode', '')})"
    if kind == "ONE_SHOT":
        return f"once at {utc(trigger.get('at'))}"
    if kind == "EVENT":
        return f"event {trigger.get('subject', '')}"
    return kind.lower()


def target_text(target: Mapping[str, Any]) -> str:
    """A job's target in one short cell: its kind and where it goes."""
    kind = str(target.get("kind", "?"))
    config = target.get("config") or {}
    where = next(
        (str(config[k]) for k in ("subject", "queue", "url", "type") if k in config),
        json.dumps(config, separators=(",", ":")) if config else "",
    )
    return f"{kind} {where}".strip()


def short(text: str | None, width: int = 48) -> str:
    if not text:
        return "-"
    one = " ".join(text.split())
    return one if len(one) <= width else one[: width - 1] + "…"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def millis(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 60_000:
        return f"{value / 60_000:.1f}m"
    if value >= 1000:
        return f"{value / 1000:.2f}s"
    return f"{value:.0f}ms"

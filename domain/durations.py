"""Durations and instants as users write them.

Durations are fixed lengths of elapsed time: ISO 8601 (``PT15M``, ``P1DT2H``, ``P2W``),
a number of seconds (``90``, ``1.5``) or shorthand (``90s``, ``15m``, ``1h30m``, ``2d``).
Years and months are refused: they have no fixed length.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

from domain.bounds import MAX_DURATION, MAX_INSTANT, MIN_INSTANT
from domain.errors import InvalidSchedule

_MAX_TEXT = 100
_MIN_YEAR, _MAX_YEAR = MIN_INSTANT.year, MAX_INSTANT.year - 1

_ISO = re.compile(
    r"^P(?:(?P<w>\d+(?:\.\d+)?)W)?(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$",
    re.IGNORECASE,
)
_SHORT = re.compile(r"^(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+(?:\.\d+)?)s)?$")
_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")
_UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str, *, field: str = "duration") -> timedelta:
    """Parse a duration; raise ``InvalidSchedule(field, ...)`` naming what is wrong."""
    try:
        return _parsed(text)
    except InvalidSchedule:
        return _parse(text, field)  # again, to name the caller's field


@lru_cache(maxsize=1024)
def _parsed(text: str) -> timedelta:
    """Stored documents repeat a handful of durations; each is parsed once."""
    return _parse(text, "duration")


def _parse(text: str, field: str) -> timedelta:
    raw = text.strip()
    if not raw:
        raise InvalidSchedule(field, "empty duration")
    if len(raw) > _MAX_TEXT:
        raise InvalidSchedule(field, f"longer than {_MAX_TEXT} characters")
    value = _parse_raw(raw, field)
    if not timedelta(0) <= value <= MAX_DURATION:
        raise InvalidSchedule(field, f"{raw!r} must be from 0 to {MAX_DURATION.days} days")
    return value


def _parse_raw(raw: str, field: str) -> timedelta:
    if _NUMBER.match(raw):
        return _seconds(float(raw), raw, field)
    if raw[0] in "Pp":
        if re.search(r"\d+(?:\.\d+)?Y", raw, re.IGNORECASE) or re.match(
            r"^P[^T]*\d+M", raw, re.IGNORECASE
        ):
            raise InvalidSchedule(
                field, f"{raw!r}: years and months have no fixed length; use weeks or days"
            )
        m = _ISO.match(raw)
        if m is None or raw.upper() in ("P", "PT") or raw.upper().endswith("T"):
            raise InvalidSchedule(field, f"{raw!r} is not an ISO 8601 duration (e.g. PT15M)")
    else:
        m = _SHORT.match(raw.lower())
        if m is None or not any(m.groupdict().values()):
            raise InvalidSchedule(
                field, f"{raw!r} is not a duration (ISO 8601 like PT15M, seconds, or 1h30m)"
            )
    seconds = sum(float(v) * _UNITS[k] for k, v in m.groupdict().items() if v)
    return _seconds(seconds, raw, field)


def _seconds(seconds: float, raw: str, field: str) -> timedelta:
    if not math.isfinite(seconds) or abs(seconds) > MAX_DURATION.total_seconds():
        raise InvalidSchedule(field, f"{raw!r} must be from 0 to {MAX_DURATION.days} days")
    return timedelta(seconds=seconds)


def parse_instant(text: str, *, field: str, tz: object | None = None) -> datetime:
    """Parse an instant: ISO 8601 with offset or ``Z``.

    Without an offset, ``tz`` (a tzinfo) gives the zone, resolved as PEP 495 ``fold=0``;
    a date alone means local midnight. Without ``tz``, a local reading is refused.
    """
    raw = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            value = datetime.combine(date.fromisoformat(raw), time())
        else:
            value = datetime.fromisoformat(raw.replace("z", "Z"))
    except ValueError:
        raise InvalidSchedule(
            field, f"{raw!r} is not an ISO 8601 instant (e.g. 2026-03-28T00:00:00Z)"
        ) from None
    if not _MIN_YEAR <= value.year <= _MAX_YEAR:
        raise InvalidSchedule(field, f"{raw!r}: the year must be from {_MIN_YEAR} to {_MAX_YEAR}")
    if value.tzinfo is None:
        if tz is None:
            raise InvalidSchedule(field, f"{raw!r} has no UTC offset")
        value = value.replace(tzinfo=tz)  # type: ignore[arg-type]
    return value.astimezone(UTC)


def format_duration(value: timedelta) -> str:
    """ISO 8601 rendering used in events and API answers (``PT1H30M``)."""
    total = value.total_seconds()
    days, rest = divmod(int(total), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    frac = total - int(total)
    out = "P" + (f"{days}D" if days else "")
    clock = ""
    if hours:
        clock += f"{hours}H"
    if minutes:
        clock += f"{minutes}M"
    if seconds or frac:
        clock += f"{seconds + frac:g}S"
    if clock:
        out += "T" + clock
    return out if out != "P" else "PT0S"

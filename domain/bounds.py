"""What Kairos accepts: one range for every number, duration, instant and text that the
API and ``kairos apply`` take in, so a value that passes here is one the database can
store and the engine can compute with.

Every check raises ``InvalidRequest`` (or ``InvalidSchedule`` for timing fields) naming
the field; nothing here knows HTTP or SQL. docs/engine.md lists these ranges.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.errors import InvalidRequest

# -- numbers --------------------------------------------------------------------------
# Columns are PostgreSQL ``integer`` (2^31 - 1) at most; each range is far inside that
# and inside what makes sense for a scheduler.
MAX_ATTEMPTS = 100
MAX_CONCURRENCY = 10_000
MAX_BUFFERED = 10_000
MAX_CATCHUP = 10_000
MAX_FIRES = 1_000_000_000
MAX_BACKFILL_RUNS = 100_000
MAX_CAPACITY = 10_000
MAX_BACKOFF_MULTIPLIER = 100.0

# -- durations ------------------------------------------------------------------------
MAX_TIMEOUT = timedelta(days=7)
MAX_BACKOFF = timedelta(days=1)
MAX_EVERY = timedelta(days=3660)  # FIXED_DELAY: ten years
MIN_EVERY = timedelta(milliseconds=1)
MAX_CATCHUP_WINDOW = timedelta(days=366)
MAX_JITTER = timedelta(days=1)
MAX_RETRY_AFTER = timedelta(days=1)
MAX_DEBOUNCE = timedelta(days=1)
# Any duration at all (``parse_duration``): beyond this it is a typo or an attack.
MAX_DURATION = timedelta(days=36_600)

# -- instants -------------------------------------------------------------------------
# The zone engine computes transitions for 1900..9000; instants stay inside that with a
# year of margin on each side, so no computation near an edge can overflow.
MIN_INSTANT = datetime(1901, 1, 1, tzinfo=UTC)
MAX_INSTANT = datetime(8999, 1, 1, tzinfo=UTC)

# -- texts ----------------------------------------------------------------------------
MAX_NAME = 200
MAX_EXPRESSION = 1_000  # a cron expression or an RRULE text
MAX_RRULE = 10_000  # an RRULE with RDATE/EXDATE lines
MAX_SUBJECT = 256
MAX_SUBJECT_TOKENS = 16
MAX_KEY = 256  # a payload key, a label key, a header name
MAX_LABELS = 64
MAX_LABEL_VALUE = 256
MAX_HEADERS = 64
MAX_HEADER_VALUE = 4_096
MAX_URL = 2_048
MAX_CAPABILITIES = 100
MAX_CAPABILITY = 200
MAX_VERSION = 100
MAX_NOTE = 1_000
MAX_ERROR = 2_000
MAX_IDEMPOTENCY_KEY = 200
MAX_TIMEZONE = 64
MAX_WINDOWS = 50
MAX_DEPENDS_ON = 50
MAX_DEPTH = 32  # nesting of any JSON document (payloads, configs, details)


def integer(value: Any, field: str, *, minimum: int, maximum: int) -> int:
    """An integer in ``[minimum, maximum]`` (a JSON bool is not one)."""
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= maximum:
        raise InvalidRequest(
            f"{field} must be an integer from {minimum} to {maximum}",
            field=field,
            minimum=minimum,
            maximum=maximum,
        )
    return value


def number(value: Any, field: str, *, minimum: float, maximum: float) -> float:
    """A finite number in ``[minimum, maximum]``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not minimum <= value <= maximum
    ):
        raise InvalidRequest(
            f"{field} must be a number from {minimum:g} to {maximum:g}", field=field
        )
    return float(value)


def duration(
    value: timedelta, field: str, *, maximum: timedelta, minimum: timedelta = timedelta(0)
) -> timedelta:
    """A parsed duration in ``[minimum, maximum]``."""
    if not minimum <= value <= maximum:
        raise InvalidRequest(
            f"{field} must be from {_words(minimum)} to {_words(maximum)}", field=field
        )
    return value


def instant(value: datetime, field: str) -> datetime:
    """An instant inside the years the zone engine computes (see ``MIN_INSTANT``)."""
    if not MIN_INSTANT <= value < MAX_INSTANT:
        raise InvalidRequest(
            f"{field} must be between {MIN_INSTANT.date()} and {MAX_INSTANT.date()}",
            field=field,
        )
    return value


def text(value: Any, field: str, *, maximum: int, empty: bool = False) -> str:
    """A string of at most ``maximum`` characters with no NUL and no lone surrogate
    (neither can be stored nor sent on)."""
    if not isinstance(value, str):
        raise InvalidRequest(f"{field} must be a string", field=field)
    if len(value) > maximum:
        raise InvalidRequest(
            f"{field} must be at most {maximum} characters", field=field, maximum=maximum
        )
    if not empty and not value.strip():
        raise InvalidRequest(f"{field} must not be empty", field=field)
    bad = unstorable(value)
    if bad is not None:
        raise InvalidRequest(f"{field} contains {bad}", field=field)
    return value


def unstorable(value: str) -> str | None:
    """What in ``value`` no database column or message can carry, or None."""
    if "\x00" in value:
        return "a NUL character (\\u0000)"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "a lone surrogate (not valid Unicode)"
    return None


def document(value: Any, field: str, *, max_depth: int = MAX_DEPTH) -> None:
    """Every key and string of a JSON document is storable text, keys are at most
    ``MAX_KEY`` characters, and nesting is at most ``max_depth`` deep. The error names
    the path of the first offence (``payload.a.b[2]``)."""
    # Iterative: a hostile document must not exhaust the interpreter's stack.
    stack: list[tuple[Any, str, int]] = [(value, field, 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, str):
            bad = unstorable(item)
            if bad is not None:
                raise InvalidRequest(f"{where} contains {bad}", field=where)
            continue
        if isinstance(item, Mapping | list):
            if depth >= max_depth:
                raise InvalidRequest(
                    f"{where} is nested deeper than {max_depth} levels",
                    field=where,
                    max_depth=max_depth,
                )
            if isinstance(item, list):
                stack.extend((v, f"{where}[{i}]", depth + 1) for i, v in enumerate(item))
                continue
            for key, v in item.items():
                path = f"{where}.{key}" if where else str(key)
                if isinstance(key, str):
                    bad = unstorable(key)
                    if bad is not None:
                        raise InvalidRequest(f"a key in {where} contains {bad}", field=where)
                    if len(key) > MAX_KEY:
                        raise InvalidRequest(
                            f"a key in {where} is longer than {MAX_KEY} characters",
                            field=where,
                        )
                stack.append((v, path, depth + 1))
        elif isinstance(item, float) and not math.isfinite(item):
            raise InvalidRequest(f"{where} must be a finite number", field=where)


def _words(value: timedelta) -> str:
    seconds = value.total_seconds()
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{seconds:g} seconds"

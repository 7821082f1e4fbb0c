"""Time zones: offsets, transitions, and turning a local wall reading into instants.

Internally instants are integer seconds since the Unix epoch (UTC) and wall readings are
integer seconds since 1970-01-01T00:00 *local* (a naive reading counted as if it were
UTC). Integer arithmetic keeps the fire-time hot path fast; datetimes are made only at
the edges.

Resolution follows PEP 495, which is also what RFC 5545 prescribes:

- a reading that occurs once resolves to one instant;
- a reading inside a gap (clocks jump forward) does not exist; ``fold=0`` resolves it with
  the offset in force *before* the transition (02:30 Europe/Berlin on spring-forward day
  becomes 01:30Z, i.e. 03:30 CEST);
- a reading inside a fold (clocks fall back) occurs twice; ``fold=0`` is the first
  occurrence, ``fold=1`` the second.

zoneinfo decides every reading near a transition. For speed, a reading far from any
transition is resolved from a cached span of readings known to share one offset; the
spans come from transition instants found by probing zoneinfo every few hours and
bisecting to the second (tzdata has no two transitions closer than days).

Where the rules come from is not this module's business: a ``ZoneSource`` (the names it
knows, a loader, and the tzdata version it holds) is handed in by the composition root
(``use_zone_source``). Each source has its own cache of ``Zone`` objects, so zones of two
tzdata versions are never mixed; a ``Timing`` keeps the zone it was built with.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo, available_timezones

from domain.errors import InvalidSchedule

EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_NAIVE = datetime(1970, 1, 1)
_PROBE_STEP = 3 * 3600
_HORIZON = 2 * 366 * 86400
# Bound on any UTC offset tzdata has ever used (local mean times included); used only as
# a safe ordering watermark.
MAX_ABS_OFFSET = 16 * 3600
# Instants outside these years are not scheduled: datetime cannot represent the far
# edges once offsets are applied, and nothing sensible fires there.
MIN_YEAR = 1900
MAX_YEAR = 9000
_MIN_SECONDS = int(
    (datetime(MIN_YEAR, 1, 1, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()
)
_MAX_SECONDS = int(
    (datetime(MAX_YEAR, 12, 31, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()
)


class WallKind(enum.IntEnum):
    UNIQUE = 0
    GAP = 1
    FOLD = 2


def instant_to_datetime(u: int) -> datetime:
    return EPOCH_UTC + timedelta(seconds=u)


def datetime_to_instant(value: datetime) -> int:
    """Whole seconds since the epoch, rounding sub-second values down."""
    if value.tzinfo is None:
        raise ValueError("an instant must be timezone-aware")
    return (value - EPOCH_UTC) // timedelta(seconds=1)


def wall_to_naive(w: int) -> datetime:
    return EPOCH_NAIVE + timedelta(seconds=w)


def naive_to_wall(value: datetime) -> int:
    return (value.replace(tzinfo=None) - EPOCH_NAIVE) // timedelta(seconds=1)


# Keys zoneinfo can load that are not zones a schedule should name: the host's own
# setting (which differs between machines) and tzdata's placeholder.
_NOT_ZONES = frozenset({"localtime", "Factory", "posixrules"})


class ZoneSource(Protocol):
    """Where zone rules come from: the keys it knows, how to load one, which tzdata."""

    @property
    def version(self) -> str:
        """The IANA tzdata release, e.g. ``2025b`` (``unknown`` if it cannot be told)."""
        ...

    def names(self) -> frozenset[str]:
        """Every key the source can load (placeholders included)."""
        ...

    def load(self, name: str) -> tzinfo:
        """The rules of one key; raises ``LookupError`` (or ``OSError``) if it has none."""
        ...


@dataclass(frozen=True, slots=True)
class StdlibZoneSource:
    """``zoneinfo``'s own search (TZPATH, then the tzdata package), version untold: the
    default until the composition root names the real source and its version."""

    version: str = "unknown"

    def names(self) -> frozenset[str]:
        return frozenset(available_timezones())

    def load(self, name: str) -> tzinfo:
        return ZoneInfo(name)


@dataclass(slots=True)
class ZoneCatalog:
    """The zones of one source, each loaded once."""

    source: ZoneSource
    _names: frozenset[str] | None = None
    _zones: dict[str, Zone] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return self.source.version

    def known(self) -> frozenset[str]:
        if self._names is None:
            self._names = frozenset(self.source.names()) - _NOT_ZONES
        return self._names

    def zone(self, name: str) -> Zone:
        found = self._zones.get(name)
        if found is not None:
            return found
        if name != "UTC" and name not in self.known():
            raise InvalidSchedule("timezone", f"unknown IANA time zone {name!r}")
        try:
            rules = self.source.load(name)
        except (LookupError, OSError, ValueError):
            if name != "UTC":
                raise InvalidSchedule("timezone", f"unknown IANA time zone {name!r}") from None
            rules = UTC  # UTC has no rules to change; a tree without the file still has it
        zone = self._zones[name] = Zone(name, rules)
        return zone


@dataclass(slots=True)
class _Selected:
    catalog: ZoneCatalog


_selected = _Selected(ZoneCatalog(StdlibZoneSource()))


def use_zone_source(source: ZoneSource) -> ZoneCatalog:
    """Make ``source`` the one ``get_zone`` reads from (the composition root calls this
    once); returns the catalog it replaced."""
    previous = _selected.catalog
    _selected.catalog = ZoneCatalog(source)
    return previous


@contextmanager
def zone_source(source: ZoneSource) -> Iterator[ZoneCatalog]:
    """``source`` for the duration of a block (tests, a re-plan under other rules)."""
    previous = use_zone_source(source)
    try:
        yield _selected.catalog
    finally:
        _selected.catalog = previous


def tzdata_version() -> str:
    """The tzdata version the active source holds."""
    return _selected.catalog.version


def get_zone(name: str) -> Zone:
    """The zone named by an IANA key; ``InvalidSchedule('timezone', ...)`` if unknown."""
    return _selected.catalog.zone(name)


class Zone:
    """One IANA zone, with a cache of its transitions (by year) and of a unique span."""

    __slots__ = ("_span_hi", "_span_lo", "_span_off", "_years", "name", "tzinfo")

    def __init__(self, name: str, rules: tzinfo | None = None) -> None:
        self.name = name
        self.tzinfo: tzinfo = rules if rules is not None else ZoneInfo(name)
        # year -> [(transition instant, offset before, offset after)]
        self._years: dict[int, list[tuple[int, int, int]]] = {}
        self._span_lo = 1
        self._span_hi = 0
        self._span_off = 0

    def __repr__(self) -> str:
        return f"Zone({self.name!r})"

    # -- offsets and transitions -------------------------------------------------------

    def offset_at(self, u: int) -> int:
        """UTC offset in seconds in force at instant ``u``."""
        off = (EPOCH_UTC + timedelta(seconds=u)).astimezone(self.tzinfo).utcoffset()
        assert off is not None
        return int(off.total_seconds())

    def wall_at(self, u: int) -> int:
        """The local wall reading at instant ``u``."""
        return u + self.offset_at(u)

    def _year_transitions(self, year: int) -> list[tuple[int, int, int]]:
        found = self._years.get(year)
        if found is not None:
            return found
        start = datetime_to_instant(datetime(year, 1, 1, tzinfo=UTC))
        end = datetime_to_instant(datetime(year + 1, 1, 1, tzinfo=UTC))
        out: list[tuple[int, int, int]] = []
        u = start
        off = self.offset_at(u)
        while u < end:
            nu = min(u + _PROBE_STEP, end)
            noff = self.offset_at(nu)
            if noff != off:
                lo, hi = u, nu
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    if self.offset_at(mid) == off:
                        lo = mid
                    else:
                        hi = mid
                out.append((hi, off, noff))
                off = noff
            u = nu
        self._years[year] = out
        return out

    @staticmethod
    def _year_of(u: int) -> int:
        # Clamped before the datetime arithmetic, which overflows past year 9999.
        u = min(max(u, _MIN_SECONDS), _MAX_SECONDS)
        return min(max((EPOCH_UTC + timedelta(seconds=u)).year, MIN_YEAR), MAX_YEAR)

    def transitions_between(self, a: int, b: int) -> list[tuple[int, int, int]]:
        """Transitions with ``a < instant <= b``, oldest first."""
        out: list[tuple[int, int, int]] = []
        for year in range(self._year_of(a), self._year_of(b) + 1):
            out.extend(t for t in self._year_transitions(year) if a < t[0] <= b)
        return out

    def offset_bounds_near(self, u: int, margin: int = 2 * 86400) -> tuple[int, int]:
        """(min, max) UTC offset in force anywhere in ``[u - margin, u + margin]``."""
        offs = {self.offset_at(u - margin)}
        for _, before, after in self.transitions_between(u - margin, u + margin):
            offs.add(before)
            offs.add(after)
        return min(offs), max(offs)

    # -- resolving wall readings -------------------------------------------------------

    def resolve(self, w: int) -> tuple[WallKind, int, int]:
        """Resolve wall reading ``w`` to ``(kind, earlier, later)`` instants.

        UNIQUE: ``earlier == later`` is the instant. FOLD: first and second occurrence.
        GAP: ``earlier`` uses the offset before the transition (PEP 495 ``fold=0``, the
        ``shift`` policy), ``later`` the offset after.
        """
        if self._span_lo <= w < self._span_hi:
            u = w - self._span_off
            return WallKind.UNIQUE, u, u
        naive = EPOCH_NAIVE + timedelta(seconds=w)
        o0 = naive.replace(tzinfo=self.tzinfo).utcoffset()
        o1 = naive.replace(tzinfo=self.tzinfo, fold=1).utcoffset()
        assert o0 is not None
        assert o1 is not None
        s0, s1 = int(o0.total_seconds()), int(o1.total_seconds())
        if s0 == s1:
            self._cache_span(w, s0)
            return WallKind.UNIQUE, w - s0, w - s0
        if s0 > s1:
            return WallKind.FOLD, w - s0, w - s1
        return WallKind.GAP, w - s0, w - s1

    def _cache_span(self, w: int, off: int) -> None:
        u = w - off
        before = self.transitions_between(u - _HORIZON, u)
        after = self.transitions_between(u, u + _HORIZON)
        if before:
            t, prev_off, _ = before[-1]
            lo = t + max(off, prev_off)
        else:
            lo = u - _HORIZON + off
        if after:
            t, _, next_off = after[0]
            hi = t + min(off, next_off)
        else:
            hi = u + _HORIZON + off
        if lo <= w < hi:
            self._span_lo, self._span_hi, self._span_off = lo, hi, off

    def local_datetime(self, u: int) -> datetime:
        """Aware local datetime (with the right ``fold``) for instant ``u``."""
        return (EPOCH_UTC + timedelta(seconds=u)).astimezone(self.tzinfo)

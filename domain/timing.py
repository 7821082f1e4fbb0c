"""A schedule's timing: trigger + zone + DST policy + bounds + calendar/window/jitter options.

``Timing.fires`` yields the rule's fire times (nominal instants, DST applied, inside
``start_at``/``end_at``); ``domain.planning`` adds calendars, windows, jitter and
``max_fires`` on top.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from domain import bounds
from domain.durations import format_duration, parse_duration, parse_instant
from domain.errors import InvalidSchedule
from domain.firing import Fire, FoldPolicy, GapPolicy, SkipReason, resolve_walls
from domain.ids import CalendarId
from domain.rrules import BoundRecurrence
from domain.triggers import (
    CronTrigger,
    DelayMode,
    EventTrigger,
    FixedDelayTrigger,
    OneShotTrigger,
    RRuleTrigger,
    Trigger,
    parse_trigger,
)
from domain.windows import ExecutionWindow
from domain.zones import (
    MAX_ABS_OFFSET,
    WallKind,
    Zone,
    datetime_to_instant,
    get_zone,
    instant_to_datetime,
    naive_to_wall,
)

_SECOND = timedelta(seconds=1)

# (nominal instant, skip reason or None, note or None): ``Fire`` without the object.
FireRow = tuple[datetime, SkipReason | None, str | None]


class CalendarPolicy(enum.StrEnum):
    SKIP = "skip"
    NEXT_BUSINESS_DAY = "next_business_day"
    PREVIOUS_BUSINESS_DAY = "previous_business_day"


class WindowPolicy(enum.StrEnum):
    DEFER = "defer"
    SKIP = "skip"


@dataclass(frozen=True, slots=True, kw_only=True)
class DstPolicy:
    """``None`` means "not given": defaults apply, except for a local ONE_SHOT, which
    refuses a gap or fold reading unless the policy is explicit."""

    gap: GapPolicy | None = None
    fold: FoldPolicy | None = None

    @property
    def effective_gap(self) -> GapPolicy:
        return self.gap or GapPolicy.SHIFT

    @property
    def effective_fold(self) -> FoldPolicy:
        return self.fold or FoldPolicy.FIRST


@dataclass(frozen=True, slots=True, kw_only=True)
class Timing:
    trigger: Trigger
    timezone: str = "UTC"
    dst: DstPolicy = field(default_factory=DstPolicy)
    start_at: datetime | None = None
    end_at: datetime | None = None
    max_fires: int | None = None
    calendar_id: CalendarId | None = None
    calendar_policy: CalendarPolicy = CalendarPolicy.SKIP
    windows: tuple[ExecutionWindow, ...] = ()
    window_policy: WindowPolicy = WindowPolicy.DEFER
    max_jitter: timedelta = timedelta(0)
    _zone: Zone = field(init=False, repr=False, compare=False)
    _recurrence: BoundRecurrence | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        zone = get_zone(self.timezone)
        object.__setattr__(self, "_zone", zone)
        for name in ("start_at", "end_at"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise InvalidSchedule(name, "needs a UTC offset")
        if self.start_at and self.end_at and self.end_at <= self.start_at:
            raise InvalidSchedule("end_at", "must be after start_at")
        if self.max_fires is not None and self.max_fires < 1:
            raise InvalidSchedule("max_fires", "must be at least 1")
        if self.max_jitter < timedelta(0):
            raise InvalidSchedule("max_jitter", "must not be negative")
        # Policies may arrive as their string values (API, YAML): coerce or name the field.
        policies: tuple[tuple[str, type[CalendarPolicy] | type[WindowPolicy]], ...] = (
            ("calendar_policy", CalendarPolicy),
            ("window_policy", WindowPolicy),
        )
        for name, policy_type in policies:
            value = getattr(self, name)
            try:
                object.__setattr__(self, name, policy_type(value))
            except ValueError:
                choices = ", ".join(k.value for k in policy_type)
                raise InvalidSchedule(name, f"{value!r}; expected one of {choices}") from None
        recurrence: BoundRecurrence | None = None
        trigger = self.trigger
        if isinstance(trigger, RRuleTrigger):
            dtstart = (
                zone.wall_at(datetime_to_instant(self.start_at))
                if self.start_at is not None
                else trigger.recurrence.dtstart_wall(zone)
            )
            if dtstart is None:
                raise InvalidSchedule("start_at", "an RRULE needs start_at or a DTSTART line")
            recurrence = trigger.recurrence.bind(zone, dtstart)
        elif isinstance(trigger, FixedDelayTrigger) and self.start_at is None:
            raise InvalidSchedule("start_at", "a FIXED_DELAY schedule needs start_at (its anchor)")
        elif isinstance(trigger, OneShotTrigger) and trigger.local is not None:
            kind, _, _ = zone.resolve(naive_to_wall(trigger.local))
            if kind is WallKind.GAP and self.dst.gap is None:
                raise InvalidSchedule(
                    "at",
                    f"{trigger.local.isoformat()} does not exist in {self.timezone} "
                    "(DST gap); give dst.gap = shift or skip",
                )
            if kind is WallKind.FOLD and self.dst.fold is None:
                raise InvalidSchedule(
                    "at",
                    f"{trigger.local.isoformat()} occurs twice in {self.timezone} "
                    "(DST fold); give dst.fold = first, second or both",
                )
        object.__setattr__(self, "_recurrence", recurrence)

    @property
    def zone(self) -> Zone:
        return self._zone

    # -- documents (API bodies, YAML; the database has its own codec) --------------------

    def to_spec(self) -> dict[str, Any]:
        """A JSON-ready document that ``from_spec`` turns back into an equal Timing."""
        return {
            "trigger": self.trigger.to_spec(),
            "timezone": self.timezone,
            "dst": {
                "gap": self.dst.gap.value if self.dst.gap else None,
                "fold": self.dst.fold.value if self.dst.fold else None,
            },
            "start_at": _iso(self.start_at),
            "end_at": _iso(self.end_at),
            "max_fires": self.max_fires,
            "calendar_id": str(self.calendar_id) if self.calendar_id else None,
            "calendar_policy": self.calendar_policy.value,
            "windows": [str(w) for w in self.windows],
            "window_policy": self.window_policy.value,
            "max_jitter": format_duration(self.max_jitter),
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Timing:
        """Strictly build a Timing from a document; unknown keys are refused."""
        if not isinstance(spec, Mapping):
            raise InvalidSchedule("timing", "expected an object")
        unknown = sorted(set(spec) - SPEC_KEYS)
        if unknown:
            raise InvalidSchedule(unknown[0], "unknown field")
        trigger_spec = spec.get("trigger")
        if not isinstance(trigger_spec, Mapping):
            raise InvalidSchedule("trigger", "required object with a type")
        dst = spec.get("dst") or {}
        if not isinstance(dst, Mapping) or set(dst) - {"gap", "fold"}:
            raise InvalidSchedule("dst", "expected {gap, fold}")
        windows = spec.get("windows") or []
        if not isinstance(windows, list) or not all(
            isinstance(w, str) and len(w) <= 100 for w in windows
        ):
            raise InvalidSchedule("windows", "expected a list like ['mon-fri 08:00-18:00']")
        if len(windows) > bounds.MAX_WINDOWS:
            raise InvalidSchedule("windows", f"at most {bounds.MAX_WINDOWS} windows")
        max_fires = spec.get("max_fires")
        if max_fires is not None and (
            not isinstance(max_fires, int)
            or isinstance(max_fires, bool)
            or not 1 <= max_fires <= bounds.MAX_FIRES
        ):
            raise InvalidSchedule("max_fires", f"expected an integer from 1 to {bounds.MAX_FIRES}")
        calendar_id = spec.get("calendar_id")
        try:
            calendar = CalendarId(uuid.UUID(str(calendar_id))) if calendar_id else None
        except ValueError:
            raise InvalidSchedule("calendar_id", f"{calendar_id!r} is not a UUID") from None
        timezone = spec.get("timezone") or "UTC"
        if (
            not isinstance(timezone, str)
            or len(timezone) > bounds.MAX_TIMEZONE
            or bounds.unstorable(timezone)
        ):
            raise InvalidSchedule("timezone", "expected an IANA zone name")
        zone = get_zone(timezone)
        return cls(
            trigger=parse_trigger(trigger_spec),
            timezone=timezone,
            dst=DstPolicy(
                gap=_enum(GapPolicy, dst.get("gap"), "dst.gap"),
                fold=_enum(FoldPolicy, dst.get("fold"), "dst.fold"),
            ),
            start_at=_instant(spec.get("start_at"), "start_at", zone),
            end_at=_instant(spec.get("end_at"), "end_at", zone),
            max_fires=max_fires,
            calendar_id=calendar,
            calendar_policy=spec.get("calendar_policy") or CalendarPolicy.SKIP,
            windows=tuple(ExecutionWindow.parse(w) for w in windows),
            window_policy=spec.get("window_policy") or WindowPolicy.DEFER,
            max_jitter=_jitter(spec.get("max_jitter")),
        )

    @property
    def periodic(self) -> bool:
        return bool(self.trigger.periodic)

    def fires(self, after: datetime, *, inclusive: bool = False) -> Iterator[Fire]:
        """Fire times with nominal ``> after`` (``>=`` if inclusive), oldest first.

        Bounded by ``start_at``/``end_at``; ``max_fires`` is the planner's business (it
        counts fires that were not skipped). EVENT triggers have no fire times.
        """
        for nominal_at, skipped, note in self.fire_rows(after, inclusive=inclusive):
            yield Fire(nominal_at=nominal_at, skipped=skipped, note=note)

    def fire_rows(self, after: datetime, *, inclusive: bool = False) -> Iterator[FireRow]:
        """``fires`` as plain ``(nominal_at, skipped, note)`` tuples: the planner's hot path
        builds one value object per fire instead of two."""
        if after.tzinfo is None:
            raise ValueError("after must be timezone-aware")
        lower = after if inclusive else after + timedelta(microseconds=1)
        if self.start_at is not None and self.start_at > lower:
            lower = self.start_at
        trigger = self.trigger
        if isinstance(trigger, CronTrigger | RRuleTrigger):
            yield from self._wall_clock_fires(lower)
        elif isinstance(trigger, FixedDelayTrigger):
            yield from self._fixed_delay_fires(trigger, lower)
        elif isinstance(trigger, OneShotTrigger):
            yield from self._one_shot_fires(trigger, lower)
        elif isinstance(trigger, EventTrigger):
            return

    def _wall_clock_fires(self, lower: datetime) -> Iterator[FireRow]:
        zone = self._zone
        # Whole-second rules: the first candidate second is ceil(lower).
        low = -(-((lower - _EPOCH) // timedelta(microseconds=1)) // 1_000_000)
        min_off, _ = zone.offset_bounds_near(low)
        start_wall = low + min_off
        end = datetime_to_instant(self.end_at) if self.end_at is not None else None
        until = end + MAX_ABS_OFFSET if end is not None else None
        if isinstance(self.trigger, CronTrigger):
            walls = self.trigger.expression.walls_from(start_wall, until=until)
        else:
            assert self._recurrence is not None
            walls = self._recurrence.walls_from(start_wall, until=until)
        for instant, status, note in resolve_walls(
            walls,
            zone,
            periodic=self.periodic,
            gap=self.dst.effective_gap,
            fold=self.dst.effective_fold,
        ):
            if instant < low:
                continue
            if end is not None and instant > end:
                return
            yield (
                datetime.fromtimestamp(instant, UTC),
                SkipReason.DST_GAP if status else None,
                note,
            )

    def _fixed_delay_fires(self, trigger: FixedDelayTrigger, lower: datetime) -> Iterator[FireRow]:
        assert self.start_at is not None
        anchor = self.start_at.astimezone(UTC)
        every = trigger.every
        k = max(0, -(-(lower - anchor) // every))  # ceil division on timedeltas
        note = (
            "delay mode: assumes each run ends as it starts"
            if (trigger.mode is DelayMode.DELAY)
            else None
        )
        while True:
            nominal = anchor + k * every
            if self.end_at is not None and nominal > self.end_at:
                return
            yield nominal, None, note
            k += 1

    def _one_shot_fires(self, trigger: OneShotTrigger, lower: datetime) -> Iterator[FireRow]:
        candidates: list[FireRow]
        if trigger.at is not None:
            candidates = [(trigger.at.astimezone(UTC), None, None)]
        else:
            assert trigger.local is not None
            candidates = [
                (instant_to_datetime(instant), SkipReason.DST_GAP if status else None, note)
                for instant, status, note in resolve_walls(
                    iter([naive_to_wall(trigger.local)]),
                    self._zone,
                    periodic=False,
                    gap=self.dst.effective_gap,
                    fold=self.dst.effective_fold,
                )
            ]
        for row in candidates:
            if row[0] < lower:
                continue
            if self.end_at is not None and row[0] > self.end_at:
                continue
            yield row


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SPEC_KEYS = frozenset(
    {
        "trigger",
        "timezone",
        "dst",
        "start_at",
        "end_at",
        "max_fires",
        "calendar_id",
        "calendar_policy",
        "windows",
        "window_policy",
        "max_jitter",
    }
)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _instant(value: object, field: str, zone: Zone) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        if not bounds.MIN_INSTANT.year <= value.year < bounds.MAX_INSTANT.year:
            raise InvalidSchedule(field, "outside the years Kairos schedules (1901-8998)")
        return value if value.tzinfo else value.replace(tzinfo=zone.tzinfo)
    if not isinstance(value, str):
        raise InvalidSchedule(field, "expected an ISO 8601 instant")
    return parse_instant(value, field=field, tz=zone.tzinfo)


def _jitter(value: object) -> timedelta:
    jitter = parse_duration(str(value or "0"), field="max_jitter")
    if jitter > bounds.MAX_JITTER:
        raise InvalidSchedule("max_jitter", f"at most {bounds.MAX_JITTER.days} day")
    return jitter


_E = TypeVar("_E", GapPolicy, FoldPolicy)


def _enum(kind: type[_E], value: object, field: str) -> _E | None:
    if value is None:
        return None
    try:
        return kind(str(value))
    except ValueError:
        choices = ", ".join(k.value for k in kind)
        raise InvalidSchedule(field, f"{value!r}; expected one of {choices}") from None

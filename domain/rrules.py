"""RFC 5545 recurrence rules, evaluated with ``dateutil.rrule`` on local wall readings.

Accepted text: one ``RRULE`` (with or without the ``RRULE:`` prefix) plus any number of
``RDATE`` and ``EXDATE`` lines and at most one ``DTSTART`` line. Lines are separated by
newlines (or by whitespace before a property name, so a shell one-liner works).

dateutil iterates *wall-clock* datetimes when given a naive DTSTART, which is exactly
what the DST rules need: ``domain.firing`` resolves each wall reading afterwards. Values
given in UTC (``...Z``) or with a ``TZID`` are converted to the schedule zone's wall
reading first.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from dateutil.rrule import rrule, rruleset, rrulestr

from domain.errors import InvalidSchedule
from domain.zones import Zone, get_zone, naive_to_wall, wall_to_naive

PERIODIC_FREQS = frozenset({"SECONDLY", "MINUTELY", "HOURLY"})
_KNOWN_PARTS = frozenset(
    {
        "FREQ",
        "UNTIL",
        "COUNT",
        "INTERVAL",
        "BYSECOND",
        "BYMINUTE",
        "BYHOUR",
        "BYDAY",
        "BYMONTHDAY",
        "BYYEARDAY",
        "BYWEEKNO",
        "BYMONTH",
        "BYSETPOS",
        "WKST",
    }
)
_LINE_SPLIT = re.compile(r"\s*\n\s*|\s+(?=(?:RRULE|RDATE|EXDATE|DTSTART)[:;])", re.IGNORECASE)
_DATE_VALUE = re.compile(r"^(\d{8})(?:T(\d{6})(Z)?)?$", re.IGNORECASE)
# An impossible rule (BYMONTH=2;BYMONTHDAY=30) would make dateutil scan to year 9999.
_FEASIBILITY_YEARS = 30


@dataclass(frozen=True, slots=True)
class RecurrenceText:
    """The parts of an RRULE text, validated but not bound to a DTSTART yet."""

    text: str
    rule: str
    rdates: tuple[str, ...]
    exdates: tuple[str, ...]
    dtstart: str | None
    freq: str

    @property
    def periodic(self) -> bool:
        return self.freq in PERIODIC_FREQS

    @classmethod
    def parse(cls, text: str) -> RecurrenceText:
        if not isinstance(text, str) or not text.strip():
            raise InvalidSchedule("rrule", "empty recurrence rule")
        rule: str | None = None
        rdates: list[str] = []
        exdates: list[str] = []
        dtstart: str | None = None
        for line in (part for part in _LINE_SPLIT.split(text.strip()) if part):
            name, sep, value = line.partition(":")
            upper = name.split(";")[0].upper()
            if not sep and "=" in line and rule is None:
                rule = line
            elif upper == "RRULE":
                if rule is not None:
                    raise InvalidSchedule("rrule", "only one RRULE is supported per schedule")
                rule = value
            elif upper == "RDATE":
                rdates.append(line)
            elif upper == "EXDATE":
                exdates.append(line)
            elif upper == "DTSTART":
                dtstart = line
            elif upper == "EXRULE":
                raise InvalidSchedule(
                    "rrule.EXRULE", "EXRULE is deprecated by RFC 5545; use EXDATE"
                )
            else:
                raise InvalidSchedule("rrule", f"unexpected line {line!r}")
        if rule is None:
            raise InvalidSchedule("rrule", "no RRULE found (e.g. FREQ=WEEKLY;BYDAY=MO)")
        parts: dict[str, str] = {}
        for item in rule.strip().strip(";").split(";"):
            key, eq, value = item.partition("=")
            key = key.strip().upper()
            if not eq or not value.strip():
                raise InvalidSchedule("rrule", f"{item!r} is not KEY=VALUE")
            if key not in _KNOWN_PARTS:
                raise InvalidSchedule(f"rrule.{key}", "unknown rule part")
            if key in parts:
                raise InvalidSchedule(f"rrule.{key}", "given twice")
            parts[key] = value.strip().upper()
        if "FREQ" not in parts:
            raise InvalidSchedule("rrule.FREQ", "required (e.g. FREQ=DAILY)")
        if "COUNT" in parts and "UNTIL" in parts:
            raise InvalidSchedule("rrule.COUNT", "COUNT and UNTIL must not both be given")
        # Validate each part on its own so the error names it.
        anchor = datetime(2000, 1, 1)
        for key, value in parts.items():
            if key in ("FREQ", "UNTIL"):
                probe = f"FREQ={value}" if key == "FREQ" else "FREQ=DAILY"
            else:
                probe = f"FREQ={parts['FREQ']};{key}={value}"
            try:
                rrulestr("RRULE:" + probe, dtstart=anchor)
            except (ValueError, TypeError, KeyError, IndexError) as exc:
                raise InvalidSchedule(f"rrule.{key}", str(exc)) from None
        if "UNTIL" in parts and not _DATE_VALUE.match(parts["UNTIL"]):
            raise InvalidSchedule("rrule.UNTIL", f"{parts['UNTIL']!r} is not a DATE or DATE-TIME")
        canonical = ";".join(f"{k}={v}" for k, v in parts.items())
        return cls(
            text=text.strip(),
            rule=canonical,
            rdates=tuple(rdates),
            exdates=tuple(exdates),
            dtstart=dtstart,
            freq=parts["FREQ"],
        )

    def dtstart_wall(self, zone: Zone) -> int | None:
        """The wall reading of an embedded DTSTART line, if there is one."""
        if self.dtstart is None:
            return None
        values = _date_values(self.dtstart, zone, field="rrule.DTSTART", default_time=None)
        if len(values) != 1:
            raise InvalidSchedule("rrule.DTSTART", "exactly one value expected")
        return values[0]

    def bind(self, zone: Zone, dtstart_wall: int) -> BoundRecurrence:
        """Bind to a zone and DTSTART (a wall reading); checks the rule ever fires."""
        start = wall_to_naive(dtstart_wall)
        rule_text = self.rule
        until = re.search(r"UNTIL=([0-9TZ]+)", rule_text)
        if until:
            local_until = _date_values(
                "UNTIL:" + until.group(1), zone, field="rrule.UNTIL", default_time=235959
            )[0]
            rule_text = rule_text.replace(
                until.group(0), "UNTIL=" + wall_to_naive(local_until).strftime("%Y%m%dT%H%M%S")
            )
        try:
            base = rrulestr("RRULE:" + rule_text, dtstart=start)
        except (ValueError, TypeError) as exc:
            raise InvalidSchedule("rrule", str(exc)) from None
        assert isinstance(base, rrule)
        ruleset = rruleset()
        ruleset.rrule(base)
        default_time = int(start.strftime("%H%M%S"))
        for line in self.rdates:
            for w in _date_values(line, zone, field="rrule.RDATE", default_time=default_time):
                ruleset.rdate(wall_to_naive(w))
        for line in self.exdates:
            for w in _date_values(line, zone, field="rrule.EXDATE", default_time=default_time):
                ruleset.exdate(wall_to_naive(w))
        bound = BoundRecurrence(source=self, dtstart_wall=dtstart_wall, ruleset=ruleset)
        bound.check_feasible(base)
        return bound


@dataclass(frozen=True, slots=True)
class BoundRecurrence:
    source: RecurrenceText
    dtstart_wall: int
    ruleset: rruleset = field(compare=False, repr=False)

    @property
    def periodic(self) -> bool:
        return self.source.periodic

    def check_feasible(self, base: rrule) -> None:
        start = wall_to_naive(self.dtstart_wall)
        horizon = start.replace(year=min(start.year + _FEASIBILITY_YEARS, 9000))
        # dateutil keeps COUNT/UNTIL private; this module is the only place that knows it.
        count: int | None = getattr(base, "_count", None)
        given_until: datetime | None = getattr(base, "_until", None)
        if count is None:
            until = horizon if given_until is None else min(given_until, horizon)
            probe = base.replace(count=None, until=until)
        else:
            probe = base
        if next(iter(probe), None) is None and not self.source.rdates:
            raise InvalidSchedule("rrule", f"{self.source.rule!r} never produces a date")

    def walls_from(self, start: int, *, until: int | None = None) -> Iterator[int]:
        """Wall readings of the rule ``>= start``, in order."""
        naive = wall_to_naive(start)
        for dt in self.ruleset.xafter(naive, inc=True):
            w = naive_to_wall(dt)
            if until is not None and w > until:
                return
            yield w


def _date_values(line: str, zone: Zone, *, field: str, default_time: int | None) -> list[int]:
    """Parse ``NAME;PARAMS:V1,V2`` into wall readings of ``zone``."""
    head, sep, body = line.partition(":")
    if not sep or not body.strip():
        raise InvalidSchedule(field, f"{line!r} has no value")
    params = dict(p.split("=", 1) for p in head.split(";")[1:] if "=" in p)
    source_zone: Zone | None = None
    if "TZID" in {k.upper() for k in params}:
        tzid = next(v for k, v in params.items() if k.upper() == "TZID")
        source_zone = get_zone(tzid.strip('"'))
    out: list[int] = []
    for value in body.split(","):
        m = _DATE_VALUE.match(value.strip())
        if m is None:
            raise InvalidSchedule(field, f"{value!r} is not a DATE (20260105) or DATE-TIME")
        day, clock, utc = m.groups()
        if clock is None:
            if default_time is None:
                raise InvalidSchedule(field, f"{value!r} needs a time (e.g. {day}T090000)")
            clock = f"{default_time:06d}"
        try:
            naive = datetime.strptime(day + clock, "%Y%m%d%H%M%S")
        except ValueError as exc:
            raise InvalidSchedule(field, f"{value!r}: {exc}") from None
        if utc:
            instant = naive.replace(tzinfo=UTC)
            out.append(naive_to_wall(instant.astimezone(zone.tzinfo)))
        elif source_zone is not None and source_zone.name != zone.name:
            instant = naive.replace(tzinfo=source_zone.tzinfo)
            local = instant.astimezone(zone.tzinfo)
            out.append(naive_to_wall(local))
        else:
            out.append(naive_to_wall(naive))
    return out

"""``kairos next`` (a schedule's upcoming fires, planned here), ``kairos tzdata`` and
``kairos --version``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime
from uuid import UUID

from adapters.clock import SystemClock
from adapters.holiday_sources import LibraryHolidayProvider
from adapters.postgres.database import PostgresDatabase, create_pool
from domain.calendar import BusinessCalendar, Calendar, CountryHolidays, Holiday, ICalHolidays
from domain.durations import parse_duration, parse_instant
from domain.errors import InvalidRequest, InvalidSchedule, StorageError
from domain.firing import FoldPolicy, GapPolicy
from domain.ids import CalendarId, TenantId
from domain.timing import CalendarPolicy, DstPolicy, Timing, WindowPolicy
from domain.triggers import (
    CronTrigger,
    DelayMode,
    FixedDelayTrigger,
    OneShotTrigger,
    RRuleTrigger,
    Trigger,
)
from domain.windows import ExecutionWindow, parse_weekdays
from domain.zones import get_zone, tzdata_version
from service._version import __version__
from service.usecases.preview import Preview, fire_json, preview, utc_text
from service.usecases.tzdata import ZoneRulesReport, render_report, zone_rules_report

_MAX_COUNT = 100_000


def _trigger(args: argparse.Namespace) -> Trigger:
    if args.cron is not None:
        return CronTrigger.parse(args.cron)
    if args.rrule is not None:
        return RRuleTrigger.parse(args.rrule.replace("\\n", "\n"))
    if args.every is not None:
        return FixedDelayTrigger(
            every=parse_duration(args.every, field="every"), mode=DelayMode(args.mode)
        )
    return OneShotTrigger.parse(args.at)


def _calendar(args: argparse.Namespace, now: datetime) -> BusinessCalendar | None:
    if not (args.holidays or args.holiday or args.ical or args.business_days):
        return None
    sources: list[CountryHolidays | ICalHolidays] = [
        CountryHolidays.parse(text) for text in args.holidays
    ]
    if args.ical:
        try:
            with open(args.ical, encoding="utf-8") as handle:
                sources.append(ICalHolidays(text=handle.read()))
        except OSError as exc:
            raise InvalidSchedule("ical", f"cannot read {args.ical}: {exc.strerror}") from None
    explicit = []
    for text in args.holiday:
        day, _, name = text.partition("=")
        try:
            explicit.append(Holiday(day=datetime.fromisoformat(day).date(), name=name or "holiday"))
        except ValueError:
            raise InvalidSchedule("holiday", f"{day!r} is not a date (YYYY-MM-DD)") from None
    calendar = Calendar(
        id=CalendarId(UUID(int=0)),
        tenant_id=TenantId("preview"),
        name="preview",
        business_days=parse_weekdays(args.business_days, field="business-days")
        if args.business_days
        else frozenset(range(5)),
        holidays=tuple(explicit),
        sources=tuple(sources),
        created_at=now,
        updated_at=now,
    )
    provider = LibraryHolidayProvider()
    for source in sources:
        provider.validate(source)
    return BusinessCalendar(calendar, provider)


def _next(args: argparse.Namespace) -> int:
    if not 1 <= args.count <= _MAX_COUNT:
        raise InvalidSchedule("count", f"must be between 1 and {_MAX_COUNT}")
    if args.jitter and not args.schedule_id:
        raise InvalidSchedule("jitter", "needs --schedule-id (jitter is derived from it)")
    zone = get_zone(args.tz)
    now = SystemClock().now()
    start = parse_instant(args.start, field="from", tz=zone.tzinfo) if args.start else now
    trigger = _trigger(args)
    start_at = (
        parse_instant(args.start_at, field="start-at", tz=zone.tzinfo) if args.start_at else None
    )
    if start_at is None and isinstance(trigger, FixedDelayTrigger):
        start_at = start
    # An RRULE without a DTSTART line needs --start-at, as the API needs start_at: the
    # preview is refused rather than anchored at the current minute.
    timing = Timing(
        trigger=trigger,
        timezone=args.tz,
        dst=DstPolicy(
            gap=GapPolicy(args.dst_gap) if args.dst_gap else None,
            fold=FoldPolicy(args.dst_fold) if args.dst_fold else None,
        ),
        start_at=start_at,
        end_at=parse_instant(args.end_at, field="end-at", tz=zone.tzinfo) if args.end_at else None,
        max_fires=args.max_fires,
        calendar_policy=CalendarPolicy(args.calendar_policy),
        windows=tuple(ExecutionWindow.parse(text) for text in args.window),
        window_policy=WindowPolicy(args.window_policy),
        max_jitter=parse_duration(args.jitter, field="jitter")
        if args.jitter
        else parse_duration("0"),
    )
    result = preview(
        timing,
        start=start,
        count=args.count,
        calendar=_calendar(args, now),
        schedule_id=args.schedule_id,
        include_skipped=args.include_skipped,
    )
    if args.json:
        print(json.dumps([fire_json(fire) for fire in result.fires], indent=2))
    else:
        print(_table(result, args.tz))
    return 0


def _table(result: Preview, zone_name: str) -> str:
    header = ("#", f"local ({zone_name})", "nominal (UTC)", "dispatch (UTC)", "note")
    rows: list[tuple[str, ...]] = []
    number = 0
    for fire in result.fires:
        if fire.skipped is None:
            number += 1
            index = str(number)
            dispatch = utc_text(fire.dispatch_at) if fire.dispatch_at != fire.nominal_at else "="
        else:
            index, dispatch = "-", f"skipped ({fire.skipped.value})"
        local = fire.local_at
        rows.append(
            (
                index,
                f"{local:%Y-%m-%d %a %H:%M:%S} {local.isoformat()[-6:]}",
                utc_text(fire.nominal_at),
                dispatch,
                "; ".join(fire.notes),
            )
        )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    if result.exhausted:
        lines.append("(no further fires)")
    elif result.scan_limited:
        lines.append("(stopped looking: too many skipped fires in a row)")
    return "\n".join(lines)


def _version(zone_rules: str) -> str:
    """What ``kairos --version`` prints: the version (defined once, service/_version.py)
    and the zone rules in use."""
    return f"kairos {__version__}\ntzdata {tzdata_version()} ({zone_rules})"


def _tzdata(args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= 10_000:
        raise InvalidRequest("--limit must be between 1 and 10000")
    report: ZoneRulesReport | None = None
    if args.database_url:
        try:
            report = asyncio.run(_zone_rules_report(args.database_url, args.limit))
        except (OSError, StorageError) as exc:
            print(f"kairos tzdata: error: {exc}", file=sys.stderr)
            return 1
    if args.json:
        doc: dict[str, object] = {"version": tzdata_version(), "source": args.zone_rules}
        if report is not None:
            doc.update(render_report(report))
        print(json.dumps(doc, indent=2))
        return 0
    print(f"tzdata {tzdata_version()} ({args.zone_rules})")
    if report is None:
        return 0
    deployment = report.deployment or "not recorded yet"
    agree = "" if report.deployment in (None, report.version) else "  (differs from this process)"
    print(f"deployment planned with {deployment}{agree}")
    if not report.replanned:
        print("no schedule was re-planned by a change of zone rules")
        return 0
    print("re-planned by a change of zone rules (newest first):")
    for r in report.replanned:
        old = utc_text(r.old_next_fire_at) if r.old_next_fire_at else "-"
        new = utc_text(r.new_next_fire_at) if r.new_next_fire_at else "-"
        print(
            f"  {r.tenant_id}  {r.schedule_id}  {r.name}  {r.timezone}  "
            f"{r.tzdata_from} -> {r.tzdata_to}  next {old} -> {new}"
        )
    return 0


async def _zone_rules_report(database_url: str, limit: int) -> ZoneRulesReport:
    pool = await create_pool(database_url, max_size=1, name="kairos-cli")
    try:
        return await zone_rules_report(PostgresDatabase(pool), limit=limit)
    finally:
        await pool.close()

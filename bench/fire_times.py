"""Fire-time throughput: Kairos's engine against plain croniter, measured in the same run.

10,000 distinct schedules (70% cron, 10% cron + business calendar, 10% rrule, 10%
fixed rate) across several zones. Two workloads:

- steady: each schedule yields its next FIRES fires from one iterator (the materialiser
  walking forward); croniter: ``croniter(expr, start)`` then ``get_next()`` per fire.
- cold: one next fire per schedule from a fresh start, parse included (a replica loading
  a schedule and asking "when next?"); croniter: construct + one ``get_next()``. Kairos
  is shown twice: with its parse cache cleared before each run (every expression seen
  for the first time) and warm (the expression was parsed before, e.g. a reload).

The croniter baseline covers the cron schedules only (it has no rrule, calendars or
intervals), so ratios are quoted on cron schedules. Each rate is the median of REPEATS
runs; each ratio is the median of per-run ratios, Kairos run right after its croniter
baseline so both see the same noise (the machine is shared).

Run: ``make bench`` (or ``.venv/bin/python bench/fire_times.py [--schedules N]``).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter

from adapters.holiday_sources import LibraryHolidayProvider
from domain.calendar import BusinessCalendar, Calendar, CountryHolidays
from domain.cron import CronExpression
from domain.ids import CalendarId, TenantId
from domain.planning import plan
from domain.timing import CalendarPolicy, Timing
from domain.triggers import CronTrigger, FixedDelayTrigger, RRuleTrigger

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Sydney"]
START = datetime(2026, 3, 1, tzinfo=UTC)
FIRES = 20
REPEATS = 5


def random_cron(rng: random.Random) -> str:
    minute = rng.choice(
        ["*/5", "*/15", str(rng.randrange(60)), f"{rng.randrange(30)},{30 + rng.randrange(30)}"]
    )
    hour = rng.choice(
        ["*", "*/2", str(rng.randrange(24)), f"{rng.randrange(8)}-{8 + rng.randrange(12)}"]
    )
    dom = rng.choice(["*", "*", "*", str(1 + rng.randrange(28)), "1,15"])
    dow = rng.choice(["*", "*", "1-5", "0,6", str(rng.randrange(7))]) if dom == "*" else "*"
    return f"{minute} {hour} {dom} * {dow}"


def build(n: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    provider = LibraryHolidayProvider()
    cal = BusinessCalendar(
        Calendar(
            id=CalendarId(__import__("uuid").UUID(int=1)),
            tenant_id=TenantId("bench"),
            name="de",
            sources=(CountryHolidays(country="DE", subdivision="BY"),),
            created_at=START,
            updated_at=START,
        ),
        provider,
    )
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    while len(out) < n:
        zone = rng.choice(ZONES)
        roll = rng.random()
        if roll < 0.8:
            expr = random_cron(rng)
            if (expr, zone) in seen:
                continue
            seen.add((expr, zone))
            with_cal = roll >= 0.7
            out.append(
                {
                    "kind": "cron+calendar" if with_cal else "cron",
                    "expr": expr,
                    "zone": zone,
                    "make": lambda e=expr, z=zone, c=with_cal: Timing(
                        trigger=CronTrigger.parse(e),
                        timezone=z,
                        calendar_policy=CalendarPolicy.NEXT_BUSINESS_DAY
                        if c
                        else CalendarPolicy.SKIP,
                    ),
                    "calendar": cal if with_cal else None,
                }
            )
        elif roll < 0.9:
            text = rng.choice(
                [
                    f"FREQ=WEEKLY;BYDAY=MO,WE,FR;BYHOUR={rng.randrange(24)};BYMINUTE={rng.randrange(60)}",
                    f"FREQ=MONTHLY;BYDAY=-1FR;BYHOUR={rng.randrange(24)}",
                    f"FREQ=HOURLY;INTERVAL={1 + rng.randrange(6)}",
                    f"FREQ=DAILY;BYHOUR={rng.randrange(24)},{rng.randrange(24)}",
                ]
            )
            out.append(
                {
                    "kind": "rrule",
                    "zone": zone,
                    "make": lambda t=text, z=zone: Timing(
                        trigger=RRuleTrigger.parse(t), timezone=z, start_at=START
                    ),
                    "calendar": None,
                }
            )
        else:
            every = timedelta(seconds=60 * (1 + rng.randrange(240)))
            out.append(
                {
                    "kind": "fixed_rate",
                    "zone": zone,
                    "make": lambda e=every, z=zone: Timing(
                        trigger=FixedDelayTrigger(every=e), timezone=z, start_at=START
                    ),
                    "calendar": None,
                }
            )
    return out


def _once(fn: Callable[[], int]) -> tuple[float, int]:
    t0 = time.perf_counter()
    count = fn()
    return time.perf_counter() - t0, count


def paired(
    baseline: Callable[[], int], candidate: Callable[[], int]
) -> tuple[float, float, float, int, int]:
    """Run baseline and candidate alternately REPEATS times, so both see the same noise.

    Returns (median baseline rate, median candidate rate, median of the per-pair ratios,
    baseline count, candidate count).
    """
    base_rates, cand_rates, ratios = [], [], []
    base_n = cand_n = 0
    for _ in range(REPEATS):
        b_s, base_n = _once(baseline)
        c_s, cand_n = _once(candidate)
        base_rates.append(base_n / b_s)
        cand_rates.append(cand_n / c_s)
        ratios.append(cand_rates[-1] / base_rates[-1])
    return (
        statistics.median(base_rates),
        statistics.median(cand_rates),
        statistics.median(ratios),
        base_n,
        cand_n,
    )


def alone(fn: Callable[[], int]) -> tuple[float, int]:
    rates, n = [], 0
    for _ in range(REPEATS):
        secs, n = _once(fn)
        rates.append(n / secs)
    return statistics.median(rates), n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--schedules", type=int, default=10_000)
    args = parser.parse_args()
    schedules = build(args.schedules)
    crons = [s for s in schedules if s["kind"] == "cron"]
    timings = [(s, s["make"]()) for s in schedules]
    cron_timings = [t for s, t in timings if s["kind"] == "cron"]

    def kairos_steady(items: list[tuple[dict[str, Any], Timing]]) -> Callable[[], int]:
        def run() -> int:
            n = 0
            for s, timing in items:
                for _ in islice(plan(timing, START, calendar=s["calendar"]), FIRES):
                    n += 1
            return n

        return run

    def croniter_steady() -> int:
        n = 0
        for s in crons:
            it = croniter(s["expr"], START.astimezone(ZoneInfo(s["zone"])))
            for _ in range(FIRES):
                it.get_next(datetime)
                n += 1
        return n

    def kairos_cold_cron() -> int:
        for s in crons:
            next(iter(plan(s["make"](), START)))
        return len(crons)

    def croniter_cold() -> int:
        for s in crons:
            croniter(s["expr"], START.astimezone(ZoneInfo(s["zone"]))).get_next(datetime)
        return len(crons)

    def kairos_cold_first_sight() -> int:
        CronExpression.clear_parse_cache()  # every expression parsed as if never seen
        return kairos_cold_cron()

    def kairos_cold_all() -> int:
        for s in schedules:
            next(iter(plan(s["make"](), START, calendar=s["calendar"])))
        return len(schedules)

    # Warm caches that a long-running scheduler keeps warm (zone transitions, holidays).
    kairos_steady(timings)()

    rows: list[tuple[str, int, float, float | None]] = []
    cron_pairs = [(s, t) for s, t in timings if s["kind"] == "cron"]
    base, ours, ratio, base_n, our_n = paired(croniter_steady, kairos_steady(cron_pairs))
    rows.append(("steady: croniter get_next (cron)", base_n, base, 1.0))
    rows.append(("steady: Kairos plan (cron)", our_n, ours, ratio))
    rate, n = alone(kairos_steady(timings))
    rows.append(("steady: Kairos plan (all kinds)", n, rate, None))
    base, ours, ratio, base_n, our_n = paired(croniter_cold, kairos_cold_first_sight)
    rows.append(("cold: croniter parse+get_next (cron)", base_n, base, 1.0))
    rows.append(("cold: Kairos, first sight (cron)", our_n, ours, ratio))
    _, ours, ratio, _, our_n = paired(croniter_cold, kairos_cold_cron)
    rows.append(("cold: Kairos, expression cached (cron)", our_n, ours, ratio))
    rate, n = alone(kairos_cold_all)
    rows.append(("cold: Kairos parse+plan (all kinds)", n, rate, None))

    kinds: dict[str, int] = {}
    for s in schedules:
        kinds[s["kind"]] = kinds.get(s["kind"], 0) + 1
    print(f"{len(schedules)} schedules: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    print(
        f"{len(cron_timings)} plain cron schedules in the croniter comparison; "
        f"{FIRES} fires each (steady); medians of {REPEATS} runs; ratios are medians of runs "
        "paired with their croniter baseline\n"
    )
    print(f"{'workload':40} {'fires':>8} {'fires/s':>12} {'vs croniter':>12}")
    for name, n, rate, ratio in rows:
        print(f"{name:40} {n:>8} {rate:>12,.0f} {'' if ratio is None else f'{ratio:.1f}x':>12}")


if __name__ == "__main__":
    main()

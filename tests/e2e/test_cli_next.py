"""`kairos next` as a user runs it: the installed console script, exit codes, output."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tzif import berlin_tree as tree

KAIROS = shutil.which("kairos", path=str(Path(sys.executable).parent))


def run(*args: str) -> subprocess.CompletedProcess[str]:
    assert KAIROS is not None, "the kairos console script is installed with the project"
    return subprocess.run([KAIROS, *args], capture_output=True, text=True, timeout=60, check=False)


def test_json_output_for_the_spring_forward_vector() -> None:
    """--json prints nominal/dispatch in UTC with Z and local with offset."""
    out = run(
        "next",
        "--cron",
        "30 2 * * *",
        "--tz",
        "Europe/Berlin",
        "--from",
        "2026-03-28",
        "--count",
        "2",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [(r["nominal_at"], r["dispatch_at"], r["local"]) for r in rows] == [
        ("2026-03-28T01:30:00Z", "2026-03-28T01:30:00Z", "2026-03-28T02:30:00+01:00"),
        ("2026-03-29T01:30:00Z", "2026-03-29T01:30:00Z", "2026-03-29T03:30:00+02:00"),
    ]
    assert rows[1]["notes"] == ["shifted: DST gap"]


def test_include_skipped_lists_skips_with_reason() -> None:
    """--include-skipped adds skipped fires with skipped: true and a reason."""
    out = run(
        "next",
        "--cron",
        "30 2 * * *",
        "--tz",
        "Europe/Berlin",
        "--from",
        "2026-03-29",
        "--count",
        "1",
        "--dst-gap",
        "skip",
        "--include-skipped",
        "--json",
    )
    rows = json.loads(out.stdout)
    assert rows[0]["skipped"] is True
    assert rows[0]["reason"] == "dst_gap"
    assert rows[1]["nominal_at"] == "2026-03-30T00:30:00Z"
    assert rows[1]["skipped"] is False


def test_human_table_names_the_holiday_that_moved_a_fire() -> None:
    """The table shows local time, UTC and a note such as the holiday's name."""
    out = run(
        "next",
        "--cron",
        "0 9 * * 6",
        "--tz",
        "Europe/Berlin",
        "--from",
        "2026-10-01",
        "--count",
        "1",
        "--holidays",
        "DE-BY",
        "--calendar-policy",
        "next_business_day",
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[:2] == ["#", "local"]
    assert "2026-10-03 Sat 09:00:00 +02:00" in lines[1]
    assert "2026-10-05T07:00:00Z" in lines[1]
    assert "moved: holiday Tag der Deutschen Einheit -> 2026-10-05" in lines[1]


def test_every_window_and_jitter_flags_work_together() -> None:
    """--every, --window and --jitter/--schedule-id produce deterministic dispatch times."""
    args = (
        "next",
        "--every",
        "PT6H",
        "--start-at",
        "2026-01-05T00:00:00Z",
        "--from",
        "2026-01-05T00:00:00Z",
        "--count",
        "3",
        "--window",
        "mon-fri 08:00-18:00",
        "--jitter",
        "PT10M",
        "--schedule-id",
        "s-1",
        "--json",
    )
    first, second = run(*args), run(*args)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    rows = json.loads(first.stdout)
    assert [r["nominal_at"] for r in rows] == [
        "2026-01-05T00:00:00Z",
        "2026-01-05T06:00:00Z",
        "2026-01-05T12:00:00Z",
    ]
    assert all(r["dispatch_at"] >= "2026-01-05T08:00:00Z" for r in rows[:2])


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--cron", "61 * * * *"), "cron.minute"),
        (("--cron", "* * * * *", "--tz", "Nowhere/City"), "timezone"),
        (("--rrule", "FREQ=DAILY;BYHOUR=25"), "rrule.BYHOUR"),
        (("--rrule", "FREQ=DAILY"), "needs start_at or a DTSTART line"),
        (("--every", "P1M"), "every"),
        (("--at", "2026-03-29T02:30", "--tz", "Europe/Berlin"), "DST gap"),
        (("--cron", "* * * * *", "--bogus"), "unrecognized arguments"),
        (("--cron", "* * * * *", "--jitter", "5m"), "schedule-id"),
        (("--cron", "* * * * *", "--holidays", "XX"), "holidays.country"),
        (("--cron", "* * * * *", "--window", "someday 1-2"), "window"),
        (("--cron", "* * * * *", "--count", "0"), "count"),
        ((), "one of the arguments"),
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_problem(
    args: tuple[str, ...], needle: str
) -> None:
    """A bad flag or expression: exit 2, one line on stderr, nothing on stdout."""
    out = run("next", *args)
    assert out.returncode == 2
    assert out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert needle in out.stderr


def test_an_rrule_previews_from_its_dtstart_or_start_at() -> None:
    """An RRULE with a DTSTART line, or without one but with --start-at, previews (the
    API's rule: one of the two anchors the rule)."""
    for anchor in (
        ("--rrule", "DTSTART:20260105T090000\\nRRULE:FREQ=DAILY"),
        ("--rrule", "FREQ=DAILY;BYHOUR=9", "--start-at", "2026-01-05T09:00:00"),
    ):
        out = run("next", *anchor, "--tz", "Europe/Berlin", "--from", "2026-01-06", "--json")
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)[0]["local"] == "2026-01-06T09:00:00+01:00"


def test_lw_is_accepted_and_quartz_6l_is_refused_with_the_spelling() -> None:
    """`kairos next` fires `LW` on the last weekday; `6L` exits 2 naming FRIL."""
    out = run("next", "--cron", "0 9 LW * *", "--tz", "Europe/Berlin", "--from", "2026-01-01")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "2026-01-30 Fri 09:00:00 +01:00" in lines[1]
    assert "2026-03-31 Tue 09:00:00 +02:00" in lines[3]
    bad = run("next", "--cron", "0 0 9 ? * 6L")
    assert bad.returncode == 2
    assert "'FRIL' (last Friday, Quartz's reading)" in bad.stderr


def test_version_and_tzdata_name_the_zone_rules(tmp_path: Path) -> None:
    """--version and `kairos tzdata` print the release KAIROS_ZONEINFO points at."""
    root = tree(tmp_path, "2099a", None).root
    env = {**os.environ, "KAIROS_ZONEINFO": str(root), "KAIROS_DATABASE_URL": ""}
    assert KAIROS is not None
    version = subprocess.run(
        [KAIROS, "--version"], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert version.returncode == 0, version.stderr
    assert version.stdout.splitlines()[1] == f"tzdata 2099a ({root})"
    shown = subprocess.run(
        [KAIROS, "tzdata", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == {"version": "2099a", "source": str(root)}

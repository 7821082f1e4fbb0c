"""The dashboard as a person uses it, in Debian's chromium against a whole `kairos dev`:
sign in from the terminal's link, watch runs live, retry a dead run, pause with a note;
another tenant's ids answer 404 and a change without the session's CSRF token is refused."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import Stack, shoot

pytestmark = pytest.mark.integration

ADMIN, OPERATE, READ = "scheduler:admin", "scheduler:operate", "scheduler:read"
RARE = {"type": "CRON", "expression": "0 3 1 1 *"}  # once a year: runs come from triggers


def _job(stack: Stack, token: str, name: str, target: dict[str, Any], **more: Any) -> str:
    body = {"name": name, "target": target, **more}
    job: dict[str, Any] = stack.api("POST", "/jobs", token, body)
    return str(job["id"])


def _schedule(stack: Stack, token: str, name: str, job_id: str, **more: Any) -> str:
    body = {"name": name, "job_id": job_id, "trigger": RARE, "timezone": "UTC", **more}
    schedule: dict[str, Any] = stack.api("POST", "/schedules", token, body)
    return str(schedule["id"])


def _event_schedule(stack: Stack, token: str, name: str, **more: Any) -> str:
    job = _job(stack, token, f"{name}-job", {"kind": "EVENT", "config": {"subject": "ui.ping"}})
    return _schedule(stack, token, name, job, **more)


def _sign_in(page: Page, stack: Stack, *scopes: str, tenant: str = "acme") -> None:
    """Open the link `kairos ui` prints: the page signs in by itself."""
    page.goto(stack.sign_in_link(tenant, *scopes))
    expect(page.get_by_role("heading", name="Schedules", exact=True)).to_be_visible()
    expect(page.get_by_role("status").first).to_have_text("Signed in.")


def _wait_run(stack: Stack, token: str, run_id: str, status: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        run = stack.api("GET", f"/runs/{run_id}", token)
        if run["status"] == status:
            return
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} never became {status}: {run}")


def test_sign_in_trigger_and_watch_runs_appear_and_succeed(page: Page, stack: Stack) -> None:
    """A schedule created through the API is listed; Trigger now runs it and the run
    turns succeeded on the open page; a run triggered elsewhere appears without reload."""
    admin = stack.token("acme", ADMIN)
    sid = _event_schedule(stack, admin, "nightly-report")
    _sign_in(page, stack, OPERATE)
    cookie = next(c for c in page.context.cookies() if c["name"] == "kairos_ui")
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/ui"
    page.get_by_role("link", name="nightly-report").click()
    expect(page.get_by_role("heading", name=re.compile("nightly-report"))).to_be_visible()
    page.get_by_role("button", name="Trigger now").click()
    expect(page.get_by_role("status").first).to_have_text("Triggered: a run was created.")
    runs = page.locator("tbody[data-live-runs] tr")
    expect(runs).to_have_count(1)
    first = runs.first.get_attribute("data-run")
    assert first is not None
    _wait_run(stack, admin, first, "succeeded")
    expect(runs.first.locator(".status")).to_have_text("succeeded", timeout=10_000)
    # Nothing reloads from here on: a marker set in the page must survive.
    page.evaluate("window.__stillHere = true")
    page.wait_for_function("() => document.documentElement.dataset.live === 'on'")
    triggered = stack.api("POST", f"/schedules/{sid}/trigger", admin)
    row = page.locator(f'tr[data-run="{triggered["id"]}"]')
    expect(row).to_be_visible(timeout=15_000)
    expect(row.locator(".status")).to_have_text("succeeded", timeout=30_000)
    expect(runs).to_have_count(2)
    # A stream ends after a few seconds and the browser reconnects: a run triggered
    # after that still appears.
    page.wait_for_function("() => Number(document.documentElement.dataset.streams) >= 2")
    third = stack.api("POST", f"/schedules/{sid}/trigger", admin)
    expect(page.locator(f'tr[data-run="{third["id"]}"] .status')).to_have_text(
        "succeeded", timeout=30_000
    )
    expect(runs).to_have_count(3)
    assert page.evaluate("window.__stillHere") is True
    shoot(page, "schedule")


def test_dead_run_is_listed_and_retried(page: Page, stack: Stack) -> None:
    """A run whose only attempt failed is in the dead letters with its error; Retry
    sends it again and its page turns succeeded by itself."""
    admin = stack.token("acme", ADMIN)
    target = {"kind": "HTTP", "config": {"url": stack.hook.url}}
    job = _job(stack, admin, "flaky-hook", target, max_attempts=1)
    sid = _schedule(stack, admin, "flaky", job)
    run = stack.api("POST", f"/schedules/{sid}/trigger", admin)
    _wait_run(stack, admin, run["id"], "dead")
    _sign_in(page, stack, OPERATE)
    page.get_by_role("link", name="Dead letters").click()
    expect(page.get_by_role("heading", name="Dead letters")).to_be_visible()
    row = page.locator(f'tr[data-run="{run["id"]}"]')
    expect(row.locator(".status")).to_have_text("dead")
    row.get_by_role("link").first.click()
    expect(page.locator("#run-status")).to_have_text("dead")
    expect(page.locator("td.error-text")).to_contain_text("500")
    expect(page.locator("table.attempts")).to_contain_text("boom: upstream down")
    shoot(page, "run-dead")
    page.get_by_role("button", name="Retry this run").click()
    expect(page.get_by_role("status").first).to_have_text("Retried: the run is pending again.")
    expect(page.locator("#run-status")).to_have_text("succeeded", timeout=30_000)
    expect(page.locator("table.attempts tbody tr")).to_have_count(2)
    assert len(stack.hook.received) == 2


def test_pause_with_a_note_shows_on_the_list(page: Page, stack: Stack) -> None:
    """Pause with a note: the list shows the schedule paused with that note, and the
    state filter finds it."""
    admin = stack.token("acme", ADMIN)
    _event_schedule(stack, admin, "billing-sync")
    _sign_in(page, stack, OPERATE)
    page.get_by_role("link", name="billing-sync").click()
    page.get_by_label("Pause note").fill("vendor maintenance until Friday")
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("status").first).to_have_text("Paused.")
    expect(page.locator("#state-note")).to_contain_text("vendor maintenance until Friday")
    page.get_by_role("navigation", name="Dashboard").get_by_role("link", name="Schedules").click()
    row = page.locator("tr", has=page.get_by_role("link", name="billing-sync"))
    expect(row.locator(".state")).to_have_text("paused")
    expect(row.locator(".note")).to_have_text("vendor maintenance until Friday")
    page.get_by_label("State").select_option("paused")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("table.schedules tbody tr")).to_have_count(1)
    expect(page.get_by_role("link", name="billing-sync")).to_be_visible()
    page.get_by_role("link", name="billing-sync").click()
    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_role("status").first).to_have_text("Resumed.")


def test_another_tenants_schedule_answers_404(page: Page, stack: Stack) -> None:
    """acme's session asking for globex's schedule (or run) sees 404, as in the API."""
    globex = stack.token("globex", ADMIN)
    theirs = _event_schedule(stack, globex, "globex-only")
    run = stack.api("POST", f"/schedules/{theirs}/trigger", globex)
    _sign_in(page, stack, OPERATE)
    answer = page.goto(f"{stack.url}/ui/schedules/{theirs}")
    assert answer is not None
    assert answer.status == 404
    expect(page.get_by_role("alert")).to_contain_text("not found")
    answer = page.goto(f"{stack.url}/ui/runs/{run['id']}")
    assert answer is not None
    assert answer.status == 404
    answer = page.goto(f"{stack.url}/ui/schedules/{uuid.uuid4()}")
    assert answer is not None
    assert answer.status == 404
    page.goto(f"{stack.url}/ui/schedules")
    expect(page.get_by_role("link", name="globex-only")).to_have_count(0)


def test_changes_need_the_csrf_token_and_the_operate_scope(
    context: BrowserContext, page: Page, stack: Stack
) -> None:
    """A POST with the session cookie but no CSRF token is refused (403) and changes
    nothing; a read-only session sees no buttons and its changes are refused too."""
    admin = stack.token("acme", ADMIN)
    sid = _event_schedule(stack, admin, "guarded")
    _sign_in(page, stack, OPERATE)
    refused = page.request.post(f"{stack.url}/ui/schedules/{sid}/pause", form={"note": "x"})
    assert refused.status == 403
    assert refused.json()["error"]["details"]["field"] == "csrf"
    forged = page.request.post(
        f"{stack.url}/ui/schedules/{sid}/pause", form={"note": "x", "csrf": "0" * 64}
    )
    assert forged.status == 403
    assert stack.api("GET", f"/schedules/{sid}", admin)["state"] == "enabled"
    context.clear_cookies()
    answer = page.goto(f"{stack.url}/ui/schedules/{sid}")
    assert answer is not None
    assert page.url.startswith(f"{stack.url}/ui/signin")
    _sign_in(page, stack, READ)
    page.goto(f"{stack.url}/ui/schedules/{sid}")
    expect(page.get_by_text("(read only)")).to_be_visible()
    expect(page.get_by_role("button", name="Trigger now")).to_have_count(0)
    csrf = page.locator('input[name="csrf"]').first.get_attribute("value")
    denied = page.request.post(f"{stack.url}/ui/schedules/{sid}/trigger", form={"csrf": csrf or ""})
    assert denied.status == 403
    assert denied.json()["error"]["details"]["needed"] == OPERATE
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to Kairos")).to_be_visible()
    assert not [c for c in context.cookies() if c["name"] == "kairos_ui"]


def _demo(stack: Stack) -> dict[str, str]:
    """A tenant with schedules of every kind, a calendar with holidays, a worker, runs."""
    admin = stack.token("demo", ADMIN)
    holidays = [
        {"date": "2026-12-24", "name": "Christmas Eve"},
        {"date": "2026-12-25", "name": "Christmas Day"},
        {"date": "2027-01-01", "name": "New Year"},
    ]
    calendar = stack.api(
        "POST", "/calendars", admin, {"name": "paris-business", "holidays": holidays}
    )["id"]
    notify = _job(stack, admin, "notify", {"kind": "EVENT", "config": {"subject": "demo.notify"}})
    export = _job(
        stack, admin, "invoice-export", {"kind": "HTTP", "config": {"url": stack.hook.url}}
    )
    reports = _job(stack, admin, "reports", {"kind": "WORKER", "config": {"type": "reports"}})
    ids = {}
    for name, job, more in [
        (
            "nightly-invoices",
            export,
            {
                "trigger": {"type": "CRON", "expression": "30 2 * * 1-5"},
                "timezone": "Europe/Paris",
                "calendar_id": calendar,
                "calendar_policy": "next_business_day",
            },
        ),
        (
            "payroll",
            export,
            {
                "trigger": {"type": "CRON", "expression": "0 6 24 * *"},
                "timezone": "Europe/Paris",
                "calendar_id": calendar,
                "calendar_policy": "next_business_day",
            },
        ),
        ("hourly-sync", notify, {"trigger": {"type": "CRON", "expression": "0 * * * *"}}),
        ("health-probe", notify, {"trigger": {"type": "CRON", "expression": "*/5 * * * *"}}),
        (
            "weekly-report",
            reports,
            {
                "trigger": {"type": "RRULE", "rrule": "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9;BYMINUTE=0"},
                "timezone": "America/New_York",
                "start_at": "2026-01-05T14:00:00Z",
            },
        ),
        (
            "rollup",
            notify,
            {
                "trigger": {"type": "FIXED_DELAY", "every": "PT15M"},
                "start_at": "2026-01-01T00:00:00Z",
                "max_jitter": "PT1M",
            },
        ),
        (
            "market-open",
            notify,
            {
                "trigger": {"type": "CRON", "expression": "0 8 * * *"},
                "timezone": "Europe/London",
                "windows": ["mon,tue,wed,thu,fri 09:00-17:00"],
            },
        ),
        ("legacy-import", notify, {"trigger": {"type": "CRON", "expression": "15 4 * * *"}}),
    ]:
        ids[name] = _schedule(stack, admin, name, job, **more)
    stack.api("POST", f"/schedules/{ids['legacy-import']}/pause", admin)
    stack.api(
        "POST",
        "/workers/register",
        stack.token("demo", OPERATE),
        {"name": "reports-1", "capabilities": ["reports"], "capacity": 4, "version": "1.2.0"},
    )
    for name in ("hourly-sync", "hourly-sync", "hourly-sync", "nightly-invoices", "payroll"):
        run = stack.api("POST", f"/schedules/{ids[name]}/trigger", admin)
        _wait_run(stack, admin, run["id"], "succeeded")
    stack.api("POST", f"/schedules/{ids['weekly-report']}/trigger", admin)
    ids["calendar"] = calendar
    return ids


def test_main_pages_show_their_facts_and_are_saved_as_screenshots(page: Page, stack: Stack) -> None:
    """Every main page renders its facts (trigger words, notes, heatmap, workers, the
    month's holidays); a screenshot of each lands in .artifacts/browser/."""
    ids = _demo(stack)
    _sign_in(page, stack, OPERATE, tenant="demo")
    # A pause with its note, through the dashboard, for the list's picture.
    page.goto(f"{stack.url}/ui/schedules/{ids['legacy-import']}")
    page.get_by_role("button", name="Resume").click()
    page.get_by_label("Pause note").fill("waiting for the vendor's v2 API")
    page.get_by_role("button", name="Pause").click()
    page.goto(f"{stack.url}/ui/schedules")
    expect(page.locator("table.schedules tbody tr")).to_have_count(9)  # and the system one
    expect(page.get_by_text("at 02:30 on weekdays (Mon–Fri)")).to_be_visible()
    expect(page.get_by_text("every week on Mon at 09:00")).to_be_visible()
    expect(page.get_by_text("waiting for the vendor's v2 API")).to_be_visible()
    shoot(page, "schedules")
    page.get_by_role("link", name="nightly-invoices").click()
    expect(page.get_by_role("link", name="paris-business")).to_be_visible()
    expect(page.locator("table.fires tbody tr").first).to_be_visible()
    expect(page.locator("tbody[data-live-runs] tr")).to_have_count(1)
    shoot(page, "schedule-calendar")
    page.goto(f"{stack.url}/ui/schedules/{ids['payroll']}")
    moved = page.locator("table.fires tbody tr", has_text="Thu 2026-12-24 06:00:00")
    expect(moved).to_contain_text("moved: holiday Christmas Eve -> 2026-12-28")
    expect(page.locator("tbody[data-live-runs] tr")).to_have_count(1)
    shoot(page, "schedule-notes")
    page.goto(f"{stack.url}/ui/schedules/{ids['market-open']}")
    expect(page.locator("table.fires")).to_contain_text("deferred: window opens")
    page.goto(f"{stack.url}/ui/upcoming")
    expect(page.locator("table.heatmap tbody tr")).to_have_count(24)
    expect(page.locator("#heat-summary")).to_contain_text("fires of")
    shoot(page, "upcoming-24h")
    page.get_by_role("link", name="Next 7 days").click()
    expect(page.locator("table.heatmap tbody tr")).to_have_count(7)
    shoot(page, "upcoming-7d")
    page.get_by_role("navigation", name="Dashboard").get_by_role("link", name="Runs").click()
    expect(page.locator("tbody[data-live-runs] tr")).to_have_count(6)
    page.get_by_label("Status").select_option("succeeded")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("tbody[data-live-runs] tr")).to_have_count(5)
    shoot(page, "runs")
    page.get_by_role("link", name="Workers").click()
    worker = page.locator("tr", has_text="reports-1")
    expect(worker).to_contain_text("online")
    expect(worker).to_contain_text("reports")
    shoot(page, "workers")
    page.goto(f"{stack.url}/ui/calendars/{ids['calendar']}?month=2026-12")
    expect(page.locator("td.holiday:not(.out)")).to_have_count(2)
    expect(page.get_by_text("Christmas Day")).to_be_visible()
    expect(page.locator("td", has_text="28").filter(has_text="1 moved here")).to_be_visible()
    shoot(page, "calendar")
    # The worker run nobody claimed is pending: cancel it from the runs list.
    page.goto(f"{stack.url}/ui/runs?status=pending")
    waiting = page.locator("tbody[data-live-runs] tr", has_text="weekly-report")
    expect(waiting.locator(".status")).to_have_text("pending")
    waiting.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("status").first).to_have_text("Cancel requested.")
    assert page.url.startswith(f"{stack.url}/ui/runs?status=pending")
    page.goto(f"{stack.url}/ui/runs?status=cancelled")
    expect(page.locator("tbody[data-live-runs] tr", has_text="weekly-report")).to_have_count(1)


UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea, button')]
  .filter(e => e.type !== 'hidden')
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
               && !(e.textContent || '').trim())
  .map(e => e.outerHTML)"""


def test_pages_work_from_the_keyboard_with_labelled_controls(page: Page, stack: Stack) -> None:
    """The skip link moves focus to the content; a schedule opens and pauses with the
    keyboard alone; no page has an unlabelled control or a script error."""
    admin = stack.token("acme", ADMIN)
    sid = _event_schedule(stack, admin, "keyboard-only")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _sign_in(page, stack, OPERATE)
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    page.get_by_label("Name or id contains").focus()
    page.keyboard.type("keyboard-only")
    page.keyboard.press("Enter")
    expect(page.locator("table.schedules tbody tr")).to_have_count(1)
    page.get_by_role("link", name="keyboard-only").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=re.compile("keyboard-only"))).to_be_visible()
    page.get_by_label("Pause note").focus()
    page.keyboard.type("from the keyboard")
    page.keyboard.press("Enter")  # submits the pause form
    expect(page.get_by_role("status").first).to_have_text("Paused.")
    assert stack.api("GET", f"/schedules/{sid}", admin)["state"] == "paused"
    for path in (
        "/ui/schedules",
        f"/ui/schedules/{sid}",
        "/ui/upcoming",
        "/ui/upcoming?span=7d",
        "/ui/runs",
        "/ui/runs?status=dead",
        "/ui/workers",
        "/ui/calendars",
    ):
        answer = page.goto(stack.url + path)
        assert answer is not None
        assert answer.status == 200, path
        assert page.evaluate(UNLABELLED) == [], path
        assert page.locator("h1").count() == 1, path
    assert errors == []

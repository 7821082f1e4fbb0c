"""``kairos apply -f FILE``: jobs and schedules as code, through the REST API.

The whole file is parsed and checked here first, with the API's own parsers (an error
names the entry's position and field, ``schedules[1].trigger.type``, and nothing is
written). Then each object is compared with the server's, by name, and created
(``POST``) or updated (``PATCH``, only the fields that differ) through the API, so
every change is authenticated, scoped and in ``/audit`` like any other.

A field the file leaves out is the server's business: an update never resets it
(as ``kubectl apply`` leaves fields it does not manage). Re-applying an unchanged file
changes nothing.

- ``--dry-run``: the plan, nothing changed.
- ``--diff``: per object the fields that change, before and after, and for a schedule
  whose timing changes its next fires before (the server's ``/next``) and after (the
  same planner, run here on the file's spec).
- HTTP jobs: the API generates the signing secret; it is printed once, or written to
  the 0600 file ``--secrets-out`` names. A file never holds one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from domain.errors import DomainError, InvalidRequest
from domain.ids import TenantId
from service.cli.client import ApiClient, ApiError
from service.usecases import parsing
from service.usecases.apply import UNRESOLVED, Document, parse_document
from service.usecases.preview import preview, utc_text

NEXT = 5
# What `kairos apply` created carries this label; `--prune` deletes only those.
MANAGED_BY = "kairos.dev/managed-by"
MARK = {MANAGED_BY: "apply"}
Out = Callable[[str], None]


@dataclass
class Step:
    kind: str  # "job" | "schedule"
    name: str
    action: str  # "create" | "update" | "unchanged"
    body: dict[str, Any]  # what is sent (create: everything; update: what changes)
    current: Mapping[str, Any] | None = None
    changes: list[tuple[str, Any, Any]] = field(default_factory=list)
    timing_changed: bool = False
    job: str | None = None  # a schedule's job, by name


PAST = {"create": "created", "update": "updated", "unchanged": "unchanged", "delete": "deleted"}


def _managed(item: Mapping[str, Any]) -> bool:
    labels = item.get("labels")
    return isinstance(labels, Mapping) and labels.get(MANAGED_BY) == "apply"


def _desired(entry: Mapping[str, Any], current: Mapping[str, Any] | None) -> dict[str, Any]:
    """The file's entry with the apply mark in its labels: on what it creates, and kept
    on what it created before (never added to an object it did not create)."""
    out = dict(entry)
    if current is None or _managed(current):
        labels = entry.get("labels")
        base = dict(labels) if isinstance(labels, Mapping) else {}
        if current is not None and "labels" not in entry:
            return out  # the file leaves labels alone: so does apply
        out["labels"] = {**base, **MARK}
    return out


def _compact(value: Any) -> str:
    if value is None:
        return "(unset)"
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def _same(
    parse: Callable[[Mapping[str, Any]], Any], current: Mapping[str, Any], key: str, value: Any
) -> bool:
    """Whether the file's ``value`` for ``key`` means what the server has: both read
    with the API's parser (``30s`` and ``PT30S`` are the same timeout)."""
    if key in current and current[key] == value:
        return True
    try:
        return bool(parse(current) == parse({**current, key: value}))
    except DomainError:
        return False


def _job_steps(
    doc: Document, stored: Mapping[str, Mapping[str, Any]], tenant: TenantId
) -> list[Step]:
    steps: list[Step] = []
    for job in doc.jobs:
        current = stored.get(job.command.name)
        entry = _desired(job.entry, current)
        if current is None:
            steps.append(Step("job", job.command.name, "create", entry))
            continue
        comparable = {k: current[k] for k in parsing.JOB_FIELDS if k in current}

        def parse(d: Mapping[str, Any]) -> Any:
            return parsing.create_job(d, tenant_id=tenant)

        changes = [
            (k, current.get(k), v) for k, v in entry.items() if not _same(parse, comparable, k, v)
        ]
        body = {k: entry[k] for k, _, _ in changes}
        steps.append(
            Step(
                "job",
                job.command.name,
                "update" if changes else "unchanged",
                body,
                current,
                changes,
            )
        )
    return steps


TIMING_KEYS = parsing.SCHEDULE_FIELDS - parsing.POLICY_FIELDS - {"name", "job_id", "payload"}


def _schedule_steps(
    doc: Document,
    stored: Mapping[str, Mapping[str, Any]],
    job_names: Mapping[str, str],
    tenant: TenantId,
) -> list[Step]:
    steps: list[Step] = []
    for schedule in doc.schedules:
        name = schedule.command.name
        current = stored.get(name)
        entry = _desired(schedule.entry, current)
        if current is None:
            steps.append(
                Step("schedule", name, "create", entry, job=schedule.job, timing_changed=True)
            )
            continue
        comparable = {k: current[k] for k in parsing.SCHEDULE_FIELDS if k in current}
        comparable.pop("job_id", None)

        def parse(d: Mapping[str, Any]) -> Any:
            return parsing.create_schedule(d, tenant_id=tenant, job_id=UNRESOLVED)

        changes = [
            (k, current.get(k), v) for k, v in entry.items() if not _same(parse, comparable, k, v)
        ]
        body = {k: entry[k] for k, _, _ in changes}
        before = job_names.get(str(current.get("job_id")), str(current.get("job_id")))
        if before != schedule.job:
            changes.insert(0, ("job", before, schedule.job))
        steps.append(
            Step(
                "schedule",
                name,
                "update" if changes else "unchanged",
                body,
                current,
                changes,
                timing_changed=any(k in TIMING_KEYS for k, _, _ in changes),
                job=schedule.job,
            )
        )
    return steps


def _prune_steps(
    doc: Document,
    jobs: Mapping[str, Mapping[str, Any]],
    schedules: Mapping[str, Mapping[str, Any]],
) -> list[Step]:
    """What ``apply`` created before and the file no longer lists: schedules first
    (a job is deleted only once no schedule uses it)."""
    listed_schedules = {s.command.name for s in doc.schedules}
    listed_jobs = {j.command.name for j in doc.jobs}
    steps = [
        Step("schedule", name, "delete", {}, item)
        for name, item in sorted(schedules.items())
        if name not in listed_schedules and _managed(item)
    ]
    return steps + [
        Step("job", name, "delete", {}, item)
        for name, item in sorted(jobs.items())
        if name not in listed_jobs and _managed(item)
    ]


async def _stored(client: ApiClient, path: str) -> dict[str, dict[str, Any]]:
    items, _ = await client.items(path)
    return {str(item["name"]): item for item in items}


async def _fires_before(client: ApiClient, step: Step) -> list[str]:
    if step.current is None:
        return []
    answer = await client.get(f"/schedules/{step.current['id']}/next", count=NEXT)
    return [str(f.get("dispatch_at")) for f in answer.get("items", []) if not f.get("skipped")]


def _fires_after(doc: Document, step: Step, now: datetime) -> tuple[list[str], str]:
    command = next(s.command for s in doc.schedules if s.command.name == step.name)
    note = " (without its calendar)" if command.timing.calendar_id is not None else ""
    found = preview(
        command.timing,
        start=now,
        count=NEXT,
        schedule_id=str(step.current["id"]) if step.current else None,
    )
    return [utc_text(f.dispatch_at) for f in found.fires], note


def _fires_table(before: list[str], after: list[str], note: str) -> list[str]:
    width = max([len("now"), *map(len, before)])
    lines = [f"    next fires: {'now'.ljust(width)}   after apply{note}"]
    for i in range(max(len(before), len(after))):
        left = before[i] if i < len(before) else "-"
        right = after[i] if i < len(after) else "-"
        mark = " " if left == right else "*"
        lines.append(f"              {mark} {left.ljust(width)}   {right}")
    return lines


def _write_secrets(path: Path, secrets: Mapping[str, str]) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(dict(secrets), handle, indent=2)
        handle.write("\n")


async def apply(
    client: ApiClient,
    document: object,
    *,
    tenant: TenantId,
    now: datetime,
    out: Out,
    dry_run: bool = False,
    diff: bool = False,
    prune: bool = False,
    secrets_out: Path | None = None,
) -> None:
    """Check the file, plan against the server, then (unless ``dry_run``) apply."""
    doc = parse_document(document, tenant_id=tenant)
    jobs = await _stored(client, "/jobs")
    schedules = await _stored(client, "/schedules")
    known = {j.command.name for j in doc.jobs} | set(jobs)
    for i, schedule in enumerate(doc.schedules):
        if schedule.job not in known:
            raise InvalidRequest(
                f"schedules[{i}]: no job named {schedule.job!r} in the file or on the server",
                field=f"schedules[{i}].job",
            )
    job_names = {str(item["id"]): name for name, item in jobs.items()}
    steps = _job_steps(doc, jobs, tenant) + _schedule_steps(doc, schedules, job_names, tenant)
    if prune:
        steps += _prune_steps(doc, jobs, schedules)
    if dry_run:
        for step in steps:
            verb = PAST[step.action]
            verb = verb if step.action == "unchanged" else f"would be {verb}"
            out(f"{step.kind} {step.name}: {verb}")
            if diff:
                for line in await _diff(client, doc, step, now):
                    out(line)
        return
    secrets: dict[str, str] = {}
    job_ids = {name: str(item["id"]) for name, item in jobs.items()}
    for step in steps:
        lines = await _diff(client, doc, step, now) if diff else []  # before it changes
        if step.action == "delete" and step.current is not None:
            path = "/jobs" if step.kind == "job" else "/schedules"
            try:
                await client.delete(f"{path}/{step.current['id']}")
            except ApiError as exc:
                if exc.route_missing:
                    out(f"{step.kind} {step.name}: not deleted (this server cannot delete jobs)")
                    continue
                if exc.status != 409:
                    raise
                out(f"{step.kind} {step.name}: not deleted ({exc.message})")
                continue
        elif step.kind == "job":
            if step.action == "create":
                _, answer = await client.post("/jobs", step.body)
                if answer.get("secret"):
                    secrets[step.name] = str(answer["secret"])
                job_ids[step.name] = str(answer["id"])
            elif step.action == "update" and step.current is not None:
                await client.request("PATCH", f"/jobs/{step.current['id']}", body=step.body)
        else:
            assert step.job is not None
            if step.action == "create":
                await client.post("/schedules", {**step.body, "job_id": job_ids[step.job]})
            elif step.action == "update" and step.current is not None:
                body = dict(step.body)
                if any(k == "job" for k, _, _ in step.changes):
                    body["job_id"] = job_ids[step.job]
                await client.request("PATCH", f"/schedules/{step.current['id']}", body=body)
        out(f"{step.kind} {step.name}: {PAST[step.action]}")
        for line in lines:
            out(line)
    if secrets and secrets_out is not None:
        _write_secrets(secrets_out, secrets)
        out(f"signing secrets of {', '.join(sorted(secrets))} written to {secrets_out} (0600)")
    else:
        for name, secret in secrets.items():
            out(f"job {name}: signing secret (shown once, keep it): {secret}")


async def _diff(client: ApiClient, doc: Document, step: Step, now: datetime) -> list[str]:
    """The fields that change, and for a schedule whose timing changes (or a new one)
    its next fires now and after the change."""
    lines = [
        f"    {key}: {_compact(before)} -> {_compact(after)}" for key, before, after in step.changes
    ]
    if step.kind == "schedule" and step.timing_changed:
        before = await _fires_before(client, step)
        after, note = _fires_after(doc, step, now)
        lines += _fires_table(before, after, note)
    return lines

"""Jobs and schedules as code: ``kairos apply -f schedules.yaml``.

The document is parsed and checked whole before anything is written; then each job and
schedule is created, or updated when it differs (matched by name within the tenant).
Re-applying an unchanged document changes nothing: no version bump, no event. Objects
absent from the document are left alone (no pruning).

    jobs:
      - name: report
        target: {kind: EVENT, config: {subject: reports.generate}}
        max_attempts: 3
    schedules:
      - name: nightly-report
        job: report                 # a job of this document or already stored
        trigger: {type: CRON, expression: "0 2 * * *"}
        timezone: Europe/Berlin
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from domain import bounds
from domain.errors import DomainError, InvalidRequest, NotFound
from domain.ids import TenantId
from domain.job import Job, TargetKind
from domain.ports import Database
from domain.schedule import Schedule
from service.specs import JOB_FIELDS, POLICY_FIELDS, job_options, require, schedule_changes
from service.usecases import jobs as job_cases
from service.usecases import schedules as schedule_cases


class Outcome(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class Change:
    kind: str  # "job" | "schedule"
    name: str
    outcome: Outcome


def _entries(document: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    entries = document.get(key) or []
    if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
        raise InvalidRequest(f"{key} must be a list of objects", field=key)
    names = [e.get("name") for e in entries]
    for i, name in enumerate(names):
        if not isinstance(name, str) or not name:
            raise InvalidRequest(f"{key}[{i}] needs a name", field=f"{key}[{i}].name")
        if names.index(name) != i:
            raise InvalidRequest(f"{key}: {name!r} appears twice", field=f"{key}[{i}].name")
    return entries


def _defaults(cls: type, names: frozenset[str]) -> dict[str, Any]:
    """Declared defaults of ``cls`` for ``names``: a field left out of the document is
    reset to its default, so the stored object is exactly what the document says."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in names:
            continue
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


JOB_DEFAULTS = _defaults(Job, JOB_FIELDS - {"name", "target"})
SCHEDULE_DEFAULTS = _defaults(Schedule, POLICY_FIELDS | {"payload"})


def _located(error: DomainError, where: str) -> DomainError:
    field = error.details.get("field")
    error.details["field"] = f"{where}.{field}" if field else where
    error.message = f"{where}: {error.message}"
    error.args = (error.message,)
    return error


async def apply(db: Database, *, tenant_id: TenantId, document: Any) -> list[Change]:
    if not isinstance(document, Mapping):
        raise InvalidRequest("the document must be a mapping with jobs and/or schedules")
    unknown = sorted(set(document) - {"jobs", "schedules"})
    if unknown:
        raise InvalidRequest(f"unknown top-level key {unknown[0]!r}", field=unknown[0])
    # The API's boundary rules for text and nesting, over the whole file (YAML keys may
    # be numbers or dates: the walker checks only the strings it finds).
    bounds.document(document, "")
    jobs = _entries(document, "jobs")
    schedules = _entries(document, "schedules")

    # Parse everything first: a bad entry anywhere writes nothing.
    job_docs: list[tuple[str, dict[str, Any]]] = []
    for i, entry in enumerate(jobs):
        try:
            options = {**JOB_DEFAULTS, **job_options(entry)}
            require(options, "target")
            job_cases.check_target(options["target"])
            if options["target"].kind is TargetKind.HTTP:
                raise InvalidRequest(
                    "HTTP jobs are created with POST /jobs, which answers their signing "
                    "secret (once); a file cannot receive it",
                    field="target.kind",
                )
        except DomainError as exc:
            raise _located(exc, f"jobs[{i}]") from None
        job_docs.append((entry["name"], options))
    schedule_docs: list[tuple[str, str, dict[str, Any]]] = []
    for i, entry in enumerate(schedules):
        body = {k: v for k, v in entry.items() if k != "job"}
        job_name = entry.get("job")
        if not isinstance(job_name, str):
            raise InvalidRequest(
                f"schedules[{i}]: job (a job name) is required", field=f"schedules[{i}].job"
            )
        try:
            fields = {**SCHEDULE_DEFAULTS, **schedule_changes(body)}
        except DomainError as exc:
            raise _located(exc, f"schedules[{i}]") from None
        schedule_docs.append((entry["name"], job_name, fields))
    async with db.transaction(tenant_id) as tx:
        known = {name for name, _ in job_docs}
        for i, (_, job_name, _) in enumerate(schedule_docs):
            if job_name not in known:
                try:
                    await tx.jobs.by_name(job_name)
                except NotFound:
                    raise InvalidRequest(
                        f"schedules[{i}]: no job named {job_name!r} in the document or stored",
                        field=f"schedules[{i}].job",
                    ) from None

    changes: list[Change] = []
    job_ids = {}
    for name, options in job_docs:
        async with db.transaction(tenant_id) as tx:
            try:
                current = await tx.jobs.by_name(name)
            except NotFound:
                current = None
        if current is None:
            options = {k: v for k, v in options.items() if k != "name"}
            job, _ = await job_cases.create_job(db, tenant_id=tenant_id, name=name, **options)
            changes.append(Change("job", name, Outcome.CREATED))
        else:
            job, _ = await job_cases.update_job(
                db, tenant_id=tenant_id, job_id=current.id, changes=options
            )
            changed = job.version != current.version
            changes.append(Change("job", name, Outcome.UPDATED if changed else Outcome.UNCHANGED))
        job_ids[name] = job.id

    for name, job_name, fields in schedule_docs:
        async with db.transaction(tenant_id) as tx:
            job_id = job_ids.get(job_name) or (await tx.jobs.by_name(job_name)).id
            try:
                current_schedule = await tx.schedules.by_name(name)
            except NotFound:
                current_schedule = None
        fields = {**fields, "job_id": job_id}
        if current_schedule is None:
            rest = {k: v for k, v in fields.items() if k != "name"}
            await schedule_cases.create_schedule(db, tenant_id=tenant_id, name=name, **rest)
            changes.append(Change("schedule", name, Outcome.CREATED))
        else:
            updated = await schedule_cases.update_schedule(
                db, tenant_id=tenant_id, schedule_id=current_schedule.id, changes=fields
            )
            changed = updated.version != current_schedule.version
            outcome = Outcome.UPDATED if changed else Outcome.UNCHANGED
            changes.append(Change("schedule", name, outcome))
    return changes

"""Jobs and schedules as code: the document of ``kairos apply -f schedules.yaml``.

``parse_document`` checks the whole document with the API's parsers; ``kairos apply``
(``service/cli/apply.py``) then writes through the REST API. ``apply`` here writes
straight to the database, for ``kairos apply --database-url`` (a deployment step before
any API runs): each job and schedule is created, or updated when it differs (matched by
name within the tenant, every field as the file says). Re-applying an unchanged
document changes nothing: no version bump, no event. Objects absent from the document
are left alone.

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

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

from domain import bounds
from domain.errors import DomainError, InvalidRequest, NotFound
from domain.ids import JobId, TenantId
from domain.job import TargetKind
from domain.ports import Database
from service.usecases import jobs as job_cases
from service.usecases import parsing
from service.usecases import schedules as schedule_cases
from service.usecases.commands import CreateJob, CreateSchedule, ReviseJob, UpdateSchedule

# A schedule's job is named in the file; its id is known once the jobs are applied.
UNRESOLVED = JobId(uuid.UUID(int=0))


class Outcome(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class Change:
    kind: str  # "job" | "schedule"
    name: str
    outcome: Outcome


def _entries(document: Mapping[str, object], key: str) -> list[Mapping[str, object]]:
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


def _located(error: DomainError, where: str) -> DomainError:
    field = error.details.get("field")
    error.details["field"] = f"{where}.{field}" if field else where
    error.message = f"{where}: {error.message}"
    error.args = (error.message,)
    return error


def _revision(command: CreateJob, job_id: JobId) -> ReviseJob:
    """The file's job over a stored one: every field as the file says (a field left out
    is reset to its default), so the stored job is exactly what the file says."""
    return ReviseJob(
        tenant_id=command.tenant_id,
        job_id=job_id,
        name=command.name,
        target=command.target,
        max_attempts=command.max_attempts,
        backoff=command.backoff,
        timeout=command.timeout,
        max_concurrency=command.max_concurrency,
        priority=command.priority,
    )


def _schedule_update(command: CreateSchedule, current: UpdateSchedule) -> UpdateSchedule:
    """The file's schedule over a stored one, every field as the file says (labels
    included: the fields are the command's own, not a hand-kept list)."""
    changes = {f.name: getattr(command, f.name) for f in fields(command) if f.name != "tenant_id"}
    return replace(current, **changes)


@dataclass(frozen=True, slots=True)
class ParsedJob:
    entry: Mapping[str, object]
    command: CreateJob


@dataclass(frozen=True, slots=True)
class ParsedSchedule:
    entry: Mapping[str, object]  # without its ``job``
    job: str  # the job's name
    command: CreateSchedule  # its job_id unresolved until the jobs are known


@dataclass(frozen=True, slots=True)
class Document:
    jobs: list[ParsedJob]
    schedules: list[ParsedSchedule]


def parse_document(document: object, *, tenant_id: TenantId) -> Document:
    """The whole file checked with the API's own parsers: the first bad entry is an
    ``InvalidRequest`` naming its position and field (``schedules[1].trigger.type``)."""
    if not isinstance(document, Mapping):
        raise InvalidRequest("the document must be a mapping with jobs and/or schedules")
    unknown = sorted(set(document) - {"jobs", "schedules"})
    if unknown:
        raise InvalidRequest(f"unknown top-level key {unknown[0]!r}", field=unknown[0])
    # The API's boundary rules for text and nesting, over the whole file (YAML keys may
    # be numbers or dates: the walker checks only the strings it finds).
    bounds.document(document, "")
    jobs: list[ParsedJob] = []
    for i, entry in enumerate(_entries(document, "jobs")):
        try:
            command = parsing.create_job(entry, tenant_id=tenant_id)
            job_cases.check_target(command.target)
        except DomainError as exc:
            raise _located(exc, f"jobs[{i}]") from None
        jobs.append(ParsedJob(entry, command))
    schedules: list[ParsedSchedule] = []
    for i, entry in enumerate(_entries(document, "schedules")):
        body = {k: v for k, v in entry.items() if k != "job"}
        job_name = entry.get("job")
        if not isinstance(job_name, str):
            raise InvalidRequest(
                f"schedules[{i}]: job (a job name) is required", field=f"schedules[{i}].job"
            )
        try:
            parsed = parsing.create_schedule(body, tenant_id=tenant_id, job_id=UNRESOLVED)
        except DomainError as exc:
            raise _located(exc, f"schedules[{i}]") from None
        schedules.append(ParsedSchedule(body, job_name, parsed))
    return Document(jobs, schedules)


async def apply(db: Database, *, tenant_id: TenantId, document: object) -> list[Change]:
    """Straight to the database (``kairos apply --database-url``): for a deployment
    step that runs before any API does. Not audited; ``kairos apply`` without the flag
    goes through the API."""
    whole = parse_document(document, tenant_id=tenant_id)
    job_commands: list[CreateJob] = []
    for i, entry in enumerate(whole.jobs):
        if entry.command.target.kind is TargetKind.HTTP:
            raise InvalidRequest(
                f"jobs[{i}]: HTTP jobs are applied through the API (kairos apply without "
                "--database-url), which generates their signing secret",
                field=f"jobs[{i}].target.kind",
            )
        job_commands.append(entry.command)
    schedule_commands = [(s.job, s.command) for s in whole.schedules]
    async with db.transaction(tenant_id) as tx:
        known = {command.name for command in job_commands}
        for i, (job_name, _) in enumerate(schedule_commands):
            if job_name not in known:
                try:
                    await tx.jobs.by_name(job_name)
                except NotFound:
                    raise InvalidRequest(
                        f"schedules[{i}]: no job named {job_name!r} in the document or stored",
                        field=f"schedules[{i}].job",
                    ) from None

    changes: list[Change] = []
    job_ids: dict[str, JobId] = {}
    for job_command in job_commands:
        name = job_command.name
        async with db.transaction(tenant_id) as tx:
            try:
                current = await tx.jobs.by_name(name)
            except NotFound:
                current = None
        if current is None:
            job, _ = await job_cases.create_job(db, job_command)
            changes.append(Change("job", name, Outcome.CREATED))
        else:
            job, _ = await job_cases.update_job(db, _revision(job_command, current.id))
            changed = job.version != current.version
            changes.append(Change("job", name, Outcome.UPDATED if changed else Outcome.UNCHANGED))
        job_ids[name] = job.id

    for job_name, parsed in schedule_commands:
        name = parsed.name
        async with db.transaction(tenant_id) as tx:
            job_id = job_ids.get(job_name) or (await tx.jobs.by_name(job_name)).id
            try:
                current_schedule = await tx.schedules.by_name(name)
            except NotFound:
                current_schedule = None
        command = replace(parsed, job_id=job_id)
        if current_schedule is None:
            await schedule_cases.create_schedule(db, command)
            changes.append(Change("schedule", name, Outcome.CREATED))
        else:
            update = UpdateSchedule(tenant_id=tenant_id, schedule_id=current_schedule.id)
            updated = await schedule_cases.update_schedule(db, _schedule_update(command, update))
            changed = updated.version != current_schedule.version
            outcome = Outcome.UPDATED if changed else Outcome.UNCHANGED
            changes.append(Change("schedule", name, outcome))
    return changes

"""A job's document as ``CreateJob`` or ``ReviseJob``."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from domain import bounds
from domain.changes import KEEP
from domain.errors import InvalidRequest
from domain.ids import JobId, TenantId
from domain.job import Backoff, BackoffKind, Target, TargetKind
from service.usecases.commands import (
    CreateJob,
    ReviseJob,
)
from service.usecases.parsing.fields import (
    Doc,
    choice,
    given,
    integer,
    labels,
    name,
    priority,
    refuse_unknown,
    required,
    setting,
)

JOB_FIELDS = frozenset(
    {
        "name",
        "target",
        "max_attempts",
        "backoff",
        "timeout",
        "max_concurrency",
        "priority",
        "labels",
    }
)

# -- jobs -------------------------------------------------------------------------------------


def _target(value: object) -> Target:
    doc = refuse_unknown(value, frozenset({"kind", "config"}), "target.")
    config = doc.get("config", {})
    if not isinstance(config, Mapping):
        raise InvalidRequest("target.config must be an object", field="target.config")
    bounds.document(config, "target.config")
    kind = choice(TargetKind, str(doc.get("kind", "")).upper(), "target.kind")
    if kind is TargetKind.SYSTEM:
        raise InvalidRequest("target.kind SYSTEM is reserved for Kairos", field="target.kind")
    return Target(kind=kind, config={str(k): v for k, v in config.items()})


def _backoff(value: object) -> Backoff:
    doc = refuse_unknown(value, frozenset({"kind", "initial", "multiplier", "max"}), "backoff.")
    default = Backoff()
    multiplier = bounds.number(
        doc.get("multiplier", default.multiplier),
        "backoff.multiplier",
        minimum=1.0,
        maximum=bounds.MAX_BACKOFF_MULTIPLIER,
    )
    return Backoff(
        kind=choice(BackoffKind, doc.get("kind", default.kind.value), "backoff.kind"),
        initial=setting(doc.get("initial", "PT1S"), "backoff.initial", bounds.MAX_BACKOFF),
        multiplier=multiplier,
        max=setting(doc.get("max", "PT5M"), "backoff.max", bounds.MAX_BACKOFF),
    )


def _concurrency(value: object) -> int | None:
    if value is None:
        return None
    return integer(value, "max_concurrency", minimum=1, maximum=bounds.MAX_CONCURRENCY)


def revise_job(doc: Doc, *, tenant_id: TenantId, job_id: JobId) -> ReviseJob:
    """A job's changes from a (partial) document: only the keys given."""
    refuse_unknown(doc, JOB_FIELDS)
    return ReviseJob(
        tenant_id=tenant_id,
        job_id=job_id,
        name=name(doc["name"]) if "name" in doc else KEEP,
        target=_target(doc["target"]) if "target" in doc else KEEP,
        max_attempts=integer(
            doc["max_attempts"], "max_attempts", minimum=1, maximum=bounds.MAX_ATTEMPTS
        )
        if "max_attempts" in doc
        else KEEP,
        backoff=_backoff(doc["backoff"]) if "backoff" in doc else KEEP,
        timeout=setting(doc["timeout"], "timeout", bounds.MAX_TIMEOUT)
        if "timeout" in doc
        else KEEP,
        max_concurrency=_concurrency(doc["max_concurrency"]) if "max_concurrency" in doc else KEEP,
        priority=priority(doc["priority"]) if "priority" in doc else KEEP,
        labels=labels(doc["labels"]) if "labels" in doc else KEEP,
    )


def create_job(doc: Doc, *, tenant_id: TenantId) -> CreateJob:
    """A new job from its document; fields left out take the job's defaults."""
    changes = revise_job(doc, tenant_id=tenant_id, job_id=JobId(uuid.UUID(int=0)))
    job_name, target = required(changes.name, "name"), required(changes.target, "target")
    default = CreateJob(tenant_id=tenant_id, name=job_name, target=target)
    return CreateJob(
        tenant_id=tenant_id,
        name=job_name,
        target=target,
        max_attempts=given(changes.max_attempts, default.max_attempts),
        backoff=given(changes.backoff, default.backoff),
        timeout=given(changes.timeout, default.timeout),
        max_concurrency=given(changes.max_concurrency, default.max_concurrency),
        priority=given(changes.priority, default.priority),
        labels=given(changes.labels, default.labels),
    )

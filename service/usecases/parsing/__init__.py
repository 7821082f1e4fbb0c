"""Requests' meaning, checked once for the REST API and ``kairos apply``: a request
document (the fields a caller sent, after ``adapters/http/requests.py`` typed the
transport) becomes a typed command (``service/usecases/commands.py``), or an error naming its field.

Parsing is strict (unknown fields are refused) and applies the limits of
``domain.bounds``. A schedule document is flat: the timing fields (``trigger``,
``timezone``, ``dst``, ``windows``, ...) sit next to ``name``, ``job_id`` and the
policies; the domain's ``Timing.from_spec`` reads them.
"""

from __future__ import annotations

from service.usecases.parsing.calendars import create_calendar, update_calendar
from service.usecases.parsing.fields import SYSTEM_PREFIX, require
from service.usecases.parsing.jobs import JOB_FIELDS, create_job, revise_job
from service.usecases.parsing.schedules import (
    POLICY_FIELDS,
    SCHEDULE_FIELDS,
    create_schedule,
    needs_anchor,
    start_backfill,
    trigger_schedule,
    update_schedule,
)
from service.usecases.parsing.workers import (
    batch_outcome,
    bounded,
    held_runs,
    lease,
    register_worker,
    report_run,
)

__all__ = [
    "JOB_FIELDS",
    "POLICY_FIELDS",
    "SCHEDULE_FIELDS",
    "SYSTEM_PREFIX",
    "batch_outcome",
    "bounded",
    "create_calendar",
    "create_job",
    "create_schedule",
    "held_runs",
    "lease",
    "needs_anchor",
    "register_worker",
    "report_run",
    "require",
    "revise_job",
    "start_backfill",
    "trigger_schedule",
    "update_calendar",
    "update_schedule",
]

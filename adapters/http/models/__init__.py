"""What the REST API answers: the response models ``/openapi.json`` shows, each
rendered from the domain object it shows (``from_domain``), with its choices taken from
the domain's enums; and the field types the request models (``requests.py``) share.

Response models forbid fields they do not declare: a route rendering a field the schema
does not know fails its tests instead of drifting from the documentation. Fields left
unset (a job's ``secret`` after its creation, a run's ``attempts`` in a list) are left
out of the answer."""

from __future__ import annotations

from adapters.http.models.answers import (
    ERRORS as ERRORS,
)
from adapters.http.models.answers import (
    AuditEntry as AuditEntry,
)
from adapters.http.models.answers import (
    AuditPage as AuditPage,
)
from adapters.http.models.answers import (
    Error as Error,
)
from adapters.http.models.answers import (
    ErrorBody as ErrorBody,
)
from adapters.http.models.answers import (
    ErrorCode as ErrorCode,
)
from adapters.http.models.answers import (
    EveryUsage as EveryUsage,
)
from adapters.http.models.answers import (
    Live as Live,
)
from adapters.http.models.answers import (
    OwnUsage as OwnUsage,
)
from adapters.http.models.answers import (
    Ready as Ready,
)
from adapters.http.models.answers import (
    ReplannedSchedule as ReplannedSchedule,
)
from adapters.http.models.answers import (
    RunUsage as RunUsage,
)
from adapters.http.models.answers import (
    ScheduleUsage as ScheduleUsage,
)
from adapters.http.models.answers import (
    Usage as Usage,
)
from adapters.http.models.answers import (
    ZoneRules as ZoneRules,
)
from adapters.http.models.fields import (
    EXAMPLES as EXAMPLES,
)
from adapters.http.models.fields import (
    PRIORITIES as PRIORITIES,
)
from adapters.http.models.fields import (
    TOKEN_EXAMPLE as TOKEN_EXAMPLE,
)
from adapters.http.models.fields import (
    TRIGGER_SCHEMA as TRIGGER_SCHEMA,
)
from adapters.http.models.fields import (
    Attempts as Attempts,
)
from adapters.http.models.fields import (
    BackfillRuns as BackfillRuns,
)
from adapters.http.models.fields import (
    Buffered as Buffered,
)
from adapters.http.models.fields import (
    Capacity as Capacity,
)
from adapters.http.models.fields import (
    Catchup as Catchup,
)
from adapters.http.models.fields import (
    Concurrency as Concurrency,
)
from adapters.http.models.fields import (
    Duration as Duration,
)
from adapters.http.models.fields import (
    Fires as Fires,
)
from adapters.http.models.fields import (
    Id as Id,
)
from adapters.http.models.fields import (
    Instant as Instant,
)
from adapters.http.models.fields import (
    Json as Json,
)
from adapters.http.models.fields import (
    LeaseToken as LeaseToken,
)
from adapters.http.models.fields import (
    Misfire as Misfire,
)
from adapters.http.models.fields import (
    Name as Name,
)
from adapters.http.models.fields import (
    Overlap as Overlap,
)
from adapters.http.models.fields import (
    PriorityName as PriorityName,
)
from adapters.http.models.fields import (
    Trigger as Trigger,
)
from adapters.http.models.fields import (
    _choices as _choices,
)
from adapters.http.models.fields import (
    _example as _example,
)
from adapters.http.models.fields import (
    _iso as _iso,
)
from adapters.http.models.fields import (
    _ms as _ms,
)
from adapters.http.models.fields import (
    _Out as _Out,
)
from adapters.http.models.fields import (
    choices_of as choices_of,
)
from adapters.http.models.jobs import (
    BackoffOut as BackoffOut,
)
from adapters.http.models.jobs import (
    Job as Job,
)
from adapters.http.models.jobs import (
    JobPage as JobPage,
)
from adapters.http.models.jobs import (
    NewSecret as NewSecret,
)
from adapters.http.models.jobs import (
    SecretRef as SecretRef,
)
from adapters.http.models.jobs import (
    TargetOut as TargetOut,
)
from adapters.http.models.runs import (
    Attempt as Attempt,
)
from adapters.http.models.runs import (
    CalendarRef as CalendarRef,
)
from adapters.http.models.runs import (
    ClaimedJob as ClaimedJob,
)
from adapters.http.models.runs import (
    ClaimedRun as ClaimedRun,
)
from adapters.http.models.runs import (
    ClaimOut as ClaimOut,
)
from adapters.http.models.runs import (
    HeartbeatOut as HeartbeatOut,
)
from adapters.http.models.runs import (
    ReportOut as ReportOut,
)
from adapters.http.models.runs import (
    Run as Run,
)
from adapters.http.models.runs import (
    RunPage as RunPage,
)
from adapters.http.models.runs import (
    Worker as Worker,
)
from adapters.http.models.runs import (
    WorkerPage as WorkerPage,
)
from adapters.http.models.schedules import (
    _ENDED as _ENDED,
)
from adapters.http.models.schedules import (
    DAYS as DAYS,
)
from adapters.http.models.schedules import (
    Backfill as Backfill,
)
from adapters.http.models.schedules import (
    Calendar as Calendar,
)
from adapters.http.models.schedules import (
    CalendarPage as CalendarPage,
)
from adapters.http.models.schedules import (
    DstOut as DstOut,
)
from adapters.http.models.schedules import (
    Fire as Fire,
)
from adapters.http.models.schedules import (
    HolidayOut as HolidayOut,
)
from adapters.http.models.schedules import (
    NextFires as NextFires,
)
from adapters.http.models.schedules import (
    Percentiles as Percentiles,
)
from adapters.http.models.schedules import (
    Progress as Progress,
)
from adapters.http.models.schedules import (
    Schedule as Schedule,
)
from adapters.http.models.schedules import (
    SchedulePage as SchedulePage,
)
from adapters.http.models.schedules import (
    Stats as Stats,
)

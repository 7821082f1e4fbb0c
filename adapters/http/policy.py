"""Which scope each endpoint needs (SEMANTICS 13). A route missing here is denied to
everyone (403): a new endpoint must be given a scope before anyone can call it, and a
test checks that every route of the app is listed."""

from __future__ import annotations

from domain.access import Scope

READ, OPERATE, ADMIN = Scope.READ, Scope.OPERATE, Scope.ADMIN

POLICY: dict[tuple[str, str], Scope] = {
    # jobs, their targets and secrets: admin
    ("POST", "/jobs"): ADMIN,
    ("GET", "/jobs"): READ,
    ("GET", "/jobs/{job_id}"): READ,
    ("PATCH", "/jobs/{job_id}"): ADMIN,
    ("POST", "/jobs/{job_id}/secrets"): ADMIN,
    ("DELETE", "/jobs/{job_id}/secrets/{secret_id}"): ADMIN,
    # schedules: admin writes them, operate runs them
    ("POST", "/schedules"): ADMIN,
    ("GET", "/schedules"): READ,
    ("GET", "/schedules/{schedule_id}"): READ,
    ("PATCH", "/schedules/{schedule_id}"): ADMIN,
    ("DELETE", "/schedules/{schedule_id}"): ADMIN,
    ("POST", "/schedules/{schedule_id}/pause"): OPERATE,
    ("POST", "/schedules/{schedule_id}/resume"): OPERATE,
    ("POST", "/schedules/{schedule_id}/trigger"): OPERATE,
    ("POST", "/schedules/{schedule_id}/backfill"): OPERATE,
    ("GET", "/backfills/{backfill_id}"): READ,
    ("GET", "/stats"): READ,
    ("GET", "/schedules/{schedule_id}/stats"): READ,
    ("GET", "/schedules/{schedule_id}/next"): READ,
    ("GET", "/schedules/{schedule_id}/runs"): READ,
    # calendars: admin
    ("POST", "/calendars"): ADMIN,
    ("GET", "/calendars"): READ,
    ("GET", "/calendars/{calendar_id}"): READ,
    ("PATCH", "/calendars/{calendar_id}"): ADMIN,
    ("DELETE", "/calendars/{calendar_id}"): ADMIN,
    # runs: operate acts on them
    ("GET", "/runs"): READ,
    ("GET", "/runs/{run_id}"): READ,
    ("POST", "/runs/{run_id}/retry"): OPERATE,
    ("POST", "/runs/{run_id}/cancel"): OPERATE,
    # the external worker protocol: a worker operates runs
    ("POST", "/runs/{run_id}/complete"): OPERATE,
    ("POST", "/runs/{run_id}/fail"): OPERATE,
    ("POST", "/workers/register"): OPERATE,
    ("GET", "/workers"): READ,
    ("GET", "/workers/{worker_id}"): READ,
    ("POST", "/workers/{worker_id}/heartbeat"): OPERATE,
    ("POST", "/workers/{worker_id}/claim"): OPERATE,
    ("POST", "/workers/{worker_id}/report"): OPERATE,
    ("POST", "/workers/{worker_id}/drain"): OPERATE,
    ("POST", "/workers/{worker_id}/stop"): OPERATE,
    # the audit trail, usage against quotas
    ("GET", "/audit"): ADMIN,
    ("GET", "/usage"): ADMIN,
    # every tenant's usage: admin of the operator's tenant only (checked by the route)
    ("GET", "/admin/usage"): ADMIN,
    # zone rules: this replica's tzdata, the deployment's, schedules a change re-planned
    ("GET", "/tzdata"): READ,
}


# Answered without credentials and about no tenant: probes of the process.
PUBLIC = frozenset({("GET", "/health/live"), ("GET", "/health/ready"), ("GET", "/metrics")})


def needed(method: str, path: str) -> Scope | None:
    """The scope a route needs; None: nobody may call it."""
    return POLICY.get((method.upper(), path))

"""Domain errors.

One root, ``DomainError``; each subclass also inherits the builtin that fits, so callers
that only know Python's vocabulary still catch them. Every error has a stable ``code``
(the API's error-envelope code) and structured ``details``.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    code: ClassVar[str] = "INVALID_REQUEST"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details


class FieldError(DomainError, ValueError):
    """Bad input that can be pinned on one field: ``field`` names it, ``reason`` says why."""

    def __init__(self, field: str, reason: str, **details: Any) -> None:
        super().__init__(f"{field}: {reason}", field=field, reason=reason, **details)
        self.field = field
        self.reason = reason


class InvalidSchedule(FieldError):
    """A schedule's timing (trigger, zone, DST policy, window, calendar...) is invalid.

    ``field`` names the offending input (e.g. ``cron.hour``, ``timezone``, ``rrule.BYDAY``).
    """

    code = "INVALID_SCHEDULE"


class InvalidRequest(DomainError, ValueError):
    code = "INVALID_REQUEST"


class InvalidCalendar(FieldError):
    """A calendar (weekdays, holidays, holiday source) is invalid."""

    code = "INVALID_REQUEST"


class NotFound(DomainError, LookupError):
    code = "NOT_FOUND"

    def __init__(self, kind: str, id: str) -> None:
        super().__init__(f"{kind} {id} not found", kind=kind, id=id)
        self.kind = kind
        self.id = id


class Conflict(DomainError):
    code = "CONFLICT"


class Unauthorized(DomainError):
    """No credentials, or credentials that do not verify (401)."""

    code = "UNAUTHORIZED"


class RateLimited(DomainError):
    """Too many requests: try again after ``retry_after`` seconds (429)."""

    code = "RATE_LIMITED"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message, retry_after=round(retry_after, 3))
        self.retry_after = retry_after


class Forbidden(DomainError, PermissionError):
    """The caller may not do this (a system schedule managed by Kairos, ...)."""

    code = "FORBIDDEN"


class Unavailable(DomainError):
    """Something the request needs is not configured or not reachable (503)."""

    code = "UNAVAILABLE"


class StorageError(RuntimeError):
    """The database answered with an error that is neither the caller's (those are
    ``DomainError``) nor an outage (``DependencyUnavailable``): a role without a
    right, a lock or statement timeout, a failed migration. Adapters raise it in place
    of their driver's errors; ``sqlstate`` is the server's code when it gave one."""

    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


class DependencyUnavailable(ConnectionError):
    """PostgreSQL or NATS cannot be reached right now (refused, reset, restarting, the
    connection dropped): a transient condition, to be waited out and retried.

    Adapters raise it in place of their driver's connection-class errors, so callers
    recognise an outage by one type. It is a ``ConnectionError`` (hence an ``OSError``),
    not a ``DomainError``: code that treats a domain error as a final answer (drop the
    message, fail the attempt) must not take an outage for one. ``dependency`` names
    what is down (``postgres``, ``nats``).
    """

    def __init__(self, dependency: str, message: str) -> None:
        super().__init__(f"{dependency} unavailable: {message}")
        self.dependency = dependency
        self.message = message


class InvalidTransition(Conflict):
    """An aggregate was asked to move to a state its lifecycle does not allow."""

    def __init__(self, kind: str, id: str, from_state: str, to_state: str) -> None:
        DomainError.__init__(
            self,
            f"{kind} {id} cannot go from {from_state} to {to_state}",
            kind=kind,
            id=id,
            from_state=from_state,
            to_state=to_state,
        )


class LeaseLost(DomainError):
    """A worker acted on a run whose lease it does not hold: a stale or wrong token,
    an expired lease, or another worker's lease. The answer never shows a token."""

    code = "LEASE_LOST"

    def __init__(self, run_id: str, why: str = "lease lost") -> None:
        super().__init__(f"lease on run {run_id} lost: {why}", run_id=run_id, why=why)


class ExecutionFailed(DomainError):
    """A target attempt failed; retryable. ``retry_after`` honours an HTTP Retry-After."""

    code = "EXECUTION_FAILED"

    def __init__(self, message: str, *, retry_after: float | None = None, **details: Any) -> None:
        super().__init__(message, retry_after=retry_after, **details)
        self.retry_after = retry_after


class TargetGone(ExecutionFailed):
    """The target answered 410 Gone: it is disabled, not retried."""


class TargetRefused(ExecutionFailed):
    """The target may not be reached (the SSRF guard refused its address): another
    attempt cannot succeed, so the run ends at once."""


class BrokerUnavailable(ExecutionFailed):
    """Kairos' own broker did not take the message (disconnected, no answer): nothing
    was delivered and the target never saw the attempt, so it does not count against
    the job's ``max_attempts``; the run is retried after its backoff."""


class NotLeader(Conflict):
    """A scheduler replica acted as leader without (or after losing) the leader lease."""

    def __init__(self, holder: str, epoch: int) -> None:
        DomainError.__init__(
            self, f"{holder} is not the leader at epoch {epoch}", holder=holder, epoch=epoch
        )

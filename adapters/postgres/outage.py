"""asyncpg's errors, translated once at the adapter's edge: connection-class ones into
``DependencyUnavailable``, every other server error into ``StorageError``, so no
caller outside ``adapters/postgres`` knows the driver.

A PostgreSQL restart shows up as many driver errors: a refused or reset socket
(``OSError``), ``ConnectionDoesNotExistError`` mid-query, ``InterfaceError`` on a
connection the pool had already lost, ``AdminShutdownError`` when the server stops,
``CannotConnectNowError`` while it starts, ``InternalClientError`` from a connection
dropped in the middle of an operation. Callers see one type for all of them and
can wait the outage out. Any other error the server answers (a missing right, a lock
or statement timeout, bad SQL in a migration) is a ``StorageError`` carrying its
SQLSTATE; errors that are not the driver's pass through unchanged.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import asyncpg

from domain.errors import DependencyUnavailable, DomainError, StorageError

DEPENDENCY = "postgres"

CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,  # admin/crash shutdown, starting up
    asyncpg.exceptions.TooManyConnectionsError,
    # "cannot switch to state ...; another operation is in progress": a connection the
    # server dropped in the middle of a query (seen on a PostgreSQL stop).
    asyncpg.exceptions.InternalClientError,
)

# Called with None when a transaction succeeded, with the error when the server was
# unreachable: lets a process log and report an outage once per change of state.
StateHook = Callable[[BaseException | None], None]


def socket_error(exc: BaseException) -> bool:
    """A network failure (refused, reset, unreachable, a name that does not resolve),
    not any ``OSError``: ``PermissionError`` and the like are other things, and several
    domain errors inherit them (``Forbidden`` is a ``PermissionError``)."""
    if isinstance(exc, DomainError):
        return False
    return isinstance(exc, ConnectionError | socket.gaierror) or type(exc) is OSError


def unavailable(exc: BaseException) -> DependencyUnavailable:
    if isinstance(exc, DependencyUnavailable):
        return exc
    text = str(exc) or type(exc).__name__
    return DependencyUnavailable(DEPENDENCY, f"{type(exc).__name__}: {text}")


def refused(exc: asyncpg.PostgresError) -> StorageError:
    sqlstate = getattr(exc, "sqlstate", None)
    return StorageError(f"{type(exc).__name__}: {exc}", sqlstate)


@contextmanager
def translated(hook: StateHook | None = None, *, timeouts: bool = False) -> Iterator[None]:
    """Raise ``DependencyUnavailable`` for connection-class errors in the block
    (``timeouts``: a ``TimeoutError`` too, for connecting, where it means no server),
    ``StorageError`` for the server's other errors."""
    kinds: tuple[type[BaseException], ...] = (
        (*CONNECTION_ERRORS, TimeoutError) if timeouts else CONNECTION_ERRORS
    )
    try:
        yield
    except DependencyUnavailable as exc:
        if hook is not None:
            hook(exc)
        raise
    except Exception as exc:
        if not (isinstance(exc, kinds) or socket_error(exc)):
            if isinstance(exc, asyncpg.PostgresError):
                raise refused(exc) from exc
            raise
        if hook is not None:
            hook(exc)
        raise unavailable(exc) from exc


class _QuietFloor(logging.Filter):
    """asyncpg's pool logs a warning with a traceback each time it fails to reconnect
    its minimum of connections: one per retry for the whole outage. The process reports
    the outage once itself (``StateHook``), so those records are dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Failed to restore the pool connection floor")


_QUIET = _QuietFloor()


def quiet_pool_retries() -> None:
    """Install the filter once (idempotent)."""
    logger = logging.getLogger("asyncpg.pool")
    if _QUIET not in logger.filters:
        logger.addFilter(_QUIET)

"""Outliving outages of PostgreSQL and NATS: which errors are transient, how long to wait
before trying again, and one log line per change of state instead of one per retry.

- ``is_transient``: an outage (``DependencyUnavailable``, a socket error, a timeout, a
  driver's connection-class error), also when it comes grouped in an ``ExceptionGroup``
  from a ``TaskGroup``.
- ``Backoff``: 0.5 s doubling to 10 s, each delay jittered (50-100 %), so replicas that
  lost the same server do not come back in step.
- ``Dependencies``: what this process finds down right now (``/health/ready`` reports
  it); logs when a dependency goes down and when it is back, once each.
- ``supervise``: runs a long-lived loop until stop; whatever it raises (except
  cancellation) is waited out with backoff and the loop is started again. A transient
  error is logged once when the loop pauses and once when it resumes; any other error is
  logged once with its traceback (and again only if it changes), and does not end the
  process either.
- ``retrying``: one step (connect, ensure a stream) tried until it succeeds or stop.
- ``shielded``: a write that a cancellation waits for instead of abandoning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import nats.errors
import nats.js.errors

from adapters.postgres.outage import socket_error
from domain.errors import DependencyUnavailable

log = logging.getLogger("kairos.resilience")

T = TypeVar("T")

# Errors that mean "the server is not there (now)". PostgreSQL's come translated by its
# adapter (``DependencyUnavailable``); NATS' are nats-py's own, raised by the client
# the adapters share.
_TRANSIENT: tuple[type[BaseException], ...] = (
    DependencyUnavailable,
    TimeoutError,  # nats.errors.TimeoutError too
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.ConnectionDrainingError,
    nats.errors.NoServersError,
    nats.errors.StaleConnectionError,
    nats.errors.UnexpectedEOF,
    nats.errors.OutboundBufferLimitError,
    nats.errors.NoRespondersError,  # JetStream not (yet) answering
    nats.js.errors.ServiceUnavailableError,
)


def is_transient(exc: BaseException) -> bool:
    """An outage to wait out; a group is one when every error in it is."""
    if isinstance(exc, BaseExceptionGroup):
        return all(is_transient(inner) for inner in exc.exceptions)
    return isinstance(exc, _TRANSIENT) or socket_error(exc)


def dependency_of(exc: BaseException) -> str:
    """Which server an error is about, for log lines (``postgres``, ``nats`` or ``?``)."""
    if isinstance(exc, BaseExceptionGroup):
        return dependency_of(exc.exceptions[0])
    if isinstance(exc, DependencyUnavailable):
        return exc.dependency
    module = type(exc).__module__
    if module.startswith("nats"):
        return "nats"
    return "?"


def describe(exc: BaseException) -> str:
    """One line for an error, a group flattened to its first distinct members."""
    if isinstance(exc, BaseExceptionGroup):
        inner = list(dict.fromkeys(describe(e) for e in exc.exceptions))
        return "; ".join(inner[:3]) + (f" (+{len(inner) - 3} more)" if len(inner) > 3 else "")
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass
class Backoff:
    """Jittered exponential delays: ``initial`` doubling up to ``maximum``."""

    initial: float = 0.5
    maximum: float = 10.0
    factor: float = 2.0
    failures: int = 0

    def next(self) -> float:
        base = min(self.maximum, self.initial * self.factor**self.failures)
        self.failures += 1
        # Half fixed, half random: never zero (a tight loop), never all in step.
        return base * (0.5 + random.random() / 2)

    def reset(self) -> None:
        self.failures = 0


@dataclass
class Dependencies:
    """What this process currently finds down; each change is logged once."""

    _down: dict[str, tuple[str, float]] = field(default_factory=dict)

    def down(self, name: str, exc: BaseException | str) -> None:
        if name in self._down:
            return
        reason = exc if isinstance(exc, str) else describe(exc)
        self._down[name] = (reason, time.monotonic())
        log.warning("%s unavailable (%s); waiting for it", name, reason)

    def up(self, name: str) -> None:
        entry = self._down.pop(name, None)
        if entry is not None:
            log.info("%s available again after %.1f s", name, time.monotonic() - entry[1])

    def is_down(self, name: str) -> bool:
        return name in self._down

    def snapshot(self) -> dict[str, str]:
        """Down dependencies and why, for ``/health/ready``."""
        return {name: reason for name, (reason, _) in self._down.items()}


@dataclass
class Loops:
    """Long-lived loops that are currently paused by an error (readiness reports them)."""

    _paused: dict[str, str] = field(default_factory=dict)

    def paused(self, name: str, reason: str) -> None:
        self._paused[name] = reason

    def resumed(self, name: str) -> None:
        self._paused.pop(name, None)

    def snapshot(self) -> dict[str, str]:
        return dict(self._paused)


async def shielded(write: Awaitable[T]) -> T:
    """Await a write that must survive cancellation: a cancel waits for it to finish,
    then goes on (the cancellation is re-raised once the write is done)."""
    task = asyncio.ensure_future(write)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await task  # the write goes to its end; its own errors replace the cancel
        raise


async def pause(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds`` or until stop, whichever comes first."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


@dataclass
class Outage:
    """One loop's failures, for loops that catch their own errors: ``failed`` logs the
    first of an episode (a real fault with its traceback, again only if it changes) and
    returns the pause before the next try; ``ok`` ends the episode, logged once."""

    name: str
    logger: logging.Logger = log
    backoff: Backoff = field(default_factory=Backoff)
    loops: Loops | None = None
    _failing: str | None = None

    @property
    def failing(self) -> bool:
        return self._failing is not None

    def failed(self, exc: BaseException) -> float:
        text = describe(exc)
        if self._failing is None:
            self.backoff.reset()  # a new episode: start again from the shortest pause
        if is_transient(exc):
            if self._failing is None:
                dependency = dependency_of(exc)
                self.logger.warning(
                    "%s paused: %s; retrying with backoff",
                    self.name,
                    text if dependency == "?" else f"{dependency} unavailable ({text})",
                )
        elif self._failing != text:
            self.logger.error("%s failed; retrying with backoff", self.name, exc_info=exc)
        self._failing = text
        if self.loops is not None:
            self.loops.paused(self.name, text)
        return self.backoff.next()

    def ok(self) -> None:
        if self._failing is not None:
            self.logger.info("%s resumed", self.name)
            self._failing = None
            if self.loops is not None:
                self.loops.resumed(self.name)


async def supervise(
    name: str,
    body: Callable[[], Awaitable[None]],
    stop: asyncio.Event,
    *,
    loops: Loops | None = None,
    settle: float = 2.0,
    logger: logging.Logger = log,
) -> None:
    """Run ``body`` until ``stop``; restart it after any error, with backoff.

    ``body`` returning while stop is unset is a restart too (without a pause). A loop
    counts as resumed once a restart has run ``settle`` seconds without failing.
    """
    outage = Outage(name, logger, loops=loops)
    while not stop.is_set():
        task = asyncio.ensure_future(body())
        try:
            if outage.failing:
                done, _ = await asyncio.wait({task}, timeout=settle)
                if not done:
                    outage.ok()
            await task
            continue
        except asyncio.CancelledError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            raise
        except Exception as exc:  # every error, grouped ones included: the loop must live
            delay = outage.failed(exc)
        await pause(stop, delay)
    if loops is not None:
        loops.resumed(name)


class Stopped(Exception):
    """``retrying`` gave up because stop was set before the step succeeded."""


async def retrying(
    what: str,
    step: Callable[[], Awaitable[T]],
    stop: asyncio.Event,
    *,
    dependencies: Dependencies | None = None,
    dependency: str | None = None,
    backoff: Backoff | None = None,
    logger: logging.Logger = log,
) -> T:
    """``step()`` until it succeeds; transient errors are waited out (logged once), any
    other error is raised. Raises ``Stopped`` when stop is set first."""
    delays = backoff or Backoff()
    waiting = False
    while not stop.is_set():
        try:
            result = await step()
        except Exception as exc:
            if not is_transient(exc):
                raise
            name = dependency or dependency_of(exc)
            if dependencies is not None:
                dependencies.down(name, exc)
            elif not waiting:
                logger.warning("%s: %s unavailable (%s); waiting", what, name, describe(exc))
            waiting = True
            await pause(stop, delays.next())
            continue
        if dependencies is not None and dependency is not None:
            dependencies.up(dependency)
        elif waiting:
            logger.info("%s: done after waiting", what)
        return result
    raise Stopped(what)

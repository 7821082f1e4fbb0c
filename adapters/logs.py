"""Logs: structlog, JSON lines for machines and a readable console in a terminal.

Every ``logging`` call of Kairos and its libraries goes through the same processors,
so each line carries the context bound where the work happens: ``tenant_id`` and
``request_id`` (and ``trace_id`` when a ``traceparent`` came in) for an API request,
``run_id``, ``schedule_id`` and ``tenant_id`` while a run is delivered.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog

SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.StackInfoRenderer(),
]


def configure(*, json: bool | None = None, level: int = logging.INFO) -> None:
    """JSON when ``json`` (default: when stderr is not a terminal), else the console."""
    as_json = not sys.stderr.isatty() if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=SHARED,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


@contextmanager
def bound(**context: Any) -> Iterator[None]:
    """Bind context for the log lines of the enclosed work (this task only)."""
    tokens = structlog.contextvars.bind_contextvars(
        **{k: str(v) for k, v in context.items() if v is not None}
    )
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)

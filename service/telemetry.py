"""What the loops report for metrics (``/metrics``), behind a narrow protocol so the
service layer does not know Prometheus. The composition root builds the Prometheus
adapter (``adapters/metrics.py``) and hands it to each loop and use case that reports;
one not given metrics reports to ``NO_METRICS`` (nothing is recorded).

Traces go through the OpenTelemetry API (a no-op until ``adapters/tracing.py``
configures the SDK): ``span`` opens one, continuing a stored ``traceparent``;
``current_traceparent`` is what a run made now records so its deliveries join the
trace; ``inject`` writes the W3C headers into an outgoing message or request.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from opentelemetry import propagate, trace
from opentelemetry.context import Context

_tracer = trace.get_tracer("kairos")


def tracing() -> bool:
    """Whether an SDK records spans (``adapters/tracing.py`` configured one): hot paths
    skip opening no-op spans (about 10 us each) when nothing would record them."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


@contextmanager
def span(
    name: str,
    *,
    parent: str | None = None,
    root: bool = False,
    attributes: Mapping[str, Any] | None = None,
) -> Iterator[trace.Span]:
    """A span under ``parent`` (a stored traceparent), or the current context, or - with
    ``root`` - a new trace."""
    context = propagate.extract({"traceparent": parent}) if parent else None
    if root and context is None:
        context = Context()
    with _tracer.start_as_current_span(
        name, context=context, attributes=dict(attributes or {})
    ) as current:
        yield current


def inject(headers: MutableMapping[str, str]) -> None:
    """Add the current trace context (``traceparent``) to outgoing headers; nothing
    when there is none (a burst's messages skip the propagators then)."""
    if trace.get_current_span().get_span_context().is_valid:
        propagate.inject(headers)


class Metrics(Protocol):
    def fires(self, count: int) -> None:
        """Fire records materialised (runs, and missed or skipped records)."""

    def events_published(self, types: Sequence[str]) -> None:
        """Domain events that reached the stream, by CloudEvents type."""

    def runs_started(self, lateness: Sequence[float]) -> None:
        """Runs claimed; each one's lateness (claim time - nominal fire time, seconds)."""

    def claim_took(self, seconds: float, claimed: int) -> None: ...

    def delivery(self, kind: str, outcome: str, seconds: float) -> None:
        """One attempt on a target: kind, outcome (an HTTP status class or error)."""

    def pool(self, busy: int, capacity: int) -> None: ...

    def leader(self, epoch: int | None) -> None: ...

    def partitions(self, held: int) -> None:
        """How many partitions this replica leads now."""


class NoMetrics:
    """Records nothing: what a loop or use case reports to unless given metrics."""

    def fires(self, count: int) -> None:
        return None

    def events_published(self, types: Sequence[str]) -> None:
        return None

    def runs_started(self, lateness: Sequence[float]) -> None:
        return None

    def claim_took(self, seconds: float, claimed: int) -> None:
        return None

    def delivery(self, kind: str, outcome: str, seconds: float) -> None:
        return None

    def pool(self, busy: int, capacity: int) -> None:
        return None

    def leader(self, epoch: int | None) -> None:
        return None

    def partitions(self, held: int) -> None:
        return None


NO_METRICS: Metrics = NoMetrics()

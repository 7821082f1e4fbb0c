"""OpenTelemetry: the SDK's tracer provider for this process, exporting over OTLP/HTTP
when ``export`` is set (``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``..._TRACES_ENDPOINT`` is,
which the exporter then reads itself); otherwise spans are still made, so trace context
propagates through runs, messages and webhooks, but go nowhere."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter


def configure(
    *, service_name: str = "kairos", export: bool = False, exporter: SpanExporter | None = None
) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if exporter is None and export:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )

        exporter = OTLPSpanExporter()
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

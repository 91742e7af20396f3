"""W3C trace context across requests and events, and optional OpenTelemetry export.

Without OpenTelemetry OMS still carries `traceparent`: from the request (or a new one)
into each event's envelope (the CloudEvents distributed tracing extension) and into
the log lines of the handlers. With the `otel` extra installed and
OTEL_EXPORTER_OTLP_ENDPOINT set, each request and each handled event is also a span,
exported over OTLP (the exporter reads the standard OTEL_* variables itself).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from oms.telemetry.context import bound

log = logging.getLogger(__name__)
ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
_tracer: Any = None


def configure_tracing(service: str = "oms") -> bool:
    """Start exporting spans if asked to (and possible); whether it is on."""
    global _tracer
    if _tracer is not None or not os.environ.get(ENDPOINT_ENV):
        return _tracer is not None
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning("%s is set but OpenTelemetry is missing: pip install 'oms[otel]'", ENDPOINT_ENV)
        return False
    name = os.environ.get("OTEL_SERVICE_NAME", service)
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _tracer = trace.get_tracer("oms")
    log.info("exporting traces over OTLP to %s", os.environ[ENDPOINT_ENV])
    return True


@contextmanager
def span(name: str, traceparent: str | None, kind: str, **attributes: str) -> Iterator[None]:
    """A span under `traceparent` while the block runs (a no-op without OpenTelemetry).
    Inside it, the context's traceparent names this span, so the events published in
    the block are its children."""
    if _tracer is None:
        yield
        return
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    propagator = TraceContextTextMapPropagator()
    parent = propagator.extract({"traceparent": traceparent}) if traceparent else None
    span_kind = getattr(trace.SpanKind, kind.upper(), trace.SpanKind.INTERNAL)
    with _tracer.start_as_current_span(name, context=parent, kind=span_kind) as current:
        for key, value in attributes.items():
            if value:
                current.set_attribute(key, value)
        carrier: dict[str, str] = {}
        propagator.inject(carrier)
        with bound(traceparent=carrier.get("traceparent")):
            yield

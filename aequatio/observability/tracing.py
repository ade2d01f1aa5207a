"""OpenTelemetry tracing: one trace from a mutation through the sagas to the subscription push.

The W3C ``traceparent`` travels HTTP -> command span -> the events' envelopes -> the AMQP
``traceparent`` header of each publish -> the consumer -> the saga's follow-up commands -> their
events -> ... -> the live push. Without an exporter configured the OpenTelemetry API is a no-op,
so the spans cost (almost) nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

log = logging.getLogger(__name__)

TRACER = trace.get_tracer("aequatio")
_PROPAGATOR = TraceContextTextMapPropagator()

Attributes = Mapping[str, str | int | bool]


def configure_tracing(service_name: str, otlp_endpoint: str | None) -> TracerProvider:
    """Record spans in this process, and export them over OTLP/HTTP when an endpoint is set.

    Spans are recorded even without an exporter: their ids are what ties the log lines of one
    flow together (``trace_id`` on every line), across processes through the ``traceparent``.
    Returns the provider to ``shutdown()`` on exit (it flushes the spans still batched); a
    process that already has one keeps it.
    """
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        trace.set_tracer_provider(provider)
    if otlp_endpoint:
        exporter = OTLPSpanExporter(endpoint=f"{otlp_endpoint.rstrip('/')}/v1/traces")
        provider.add_span_processor(BatchSpanProcessor(exporter))
        log.info("exporting traces to %s", otlp_endpoint)
    return provider


def traceparent_of(span: Span | None = None) -> str | None:
    """The W3C ``traceparent`` of ``span`` (default: the current span), if it is recording."""
    context = trace.set_span_in_context(span) if span is not None else None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=context)
    return carrier.get("traceparent")


def context_of(traceparent: str | None) -> Context | None:
    """The parent context a ``traceparent`` names (``None``: continue the current one)."""
    if not traceparent:
        return None
    return _PROPAGATOR.extract({"traceparent": traceparent})


@contextmanager
def span(
    name: str,
    *,
    parent: str | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Attributes | None = None,
) -> Iterator[Span]:
    """A current span, child of ``parent`` (a ``traceparent``) or of the current span."""
    with TRACER.start_as_current_span(
        name, context=context_of(parent), kind=kind, attributes=dict(attributes or {})
    ) as current:
        yield current


def start_span(
    name: str,
    *,
    parent: str | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Attributes | None = None,
) -> Span:
    """A span that is not made current (the caller ends it), e.g. one per published message."""
    return TRACER.start_span(
        name, context=context_of(parent), kind=kind, attributes=dict(attributes or {})
    )


def failed(current: Span, error: BaseException) -> None:
    current.record_exception(error)
    current.set_status(Status(StatusCode.ERROR, type(error).__name__))

"""OpenTelemetry tracing: one trace from a mutation through the sagas to the subscription push.

The W3C ``traceparent`` travels HTTP -> command span -> the events' envelopes -> the AMQP
``traceparent`` header of each publish -> the consumer -> the saga's follow-up commands -> their
events -> ... -> the live push.

Spans are recorded only while something takes them (an exporter, or a test's recorder): without
one each span is non-recording but keeps its ids, which is all the log lines (``trace_id``) and
the ``traceparent`` of events and messages need. Recording every span for nobody cost about a
millisecond of CPU per ``addExpense`` (attributes copied and cleaned, span objects built).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

log = logging.getLogger(__name__)

TRACER = trace.get_tracer("aequatio")
_PROPAGATOR = TraceContextTextMapPropagator()

Attributes = Mapping[str, str | int | bool]


class ExportingTracerProvider(TracerProvider):
    """A provider that knows whether anything takes its spans (``exporting``)."""

    def __init__(self, *, resource: Resource) -> None:
        self.exporting = False
        super().__init__(resource=resource, sampler=WhenExporting(self))

    def add_span_processor(self, span_processor: SpanProcessor) -> None:
        super().add_span_processor(span_processor)
        self.exporting = True


class WhenExporting(Sampler):
    """Record and sample every span while the provider exports, none otherwise (whatever the
    parent's flag says: each process records what it exports, so a trace stays whole)."""

    def __init__(self, provider: ExportingTracerProvider) -> None:
        self._provider = provider

    def should_sample(  # noqa: PLR0917 - the SDK calls it positionally
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Any = None,
        links: Any = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        if not self._provider.exporting:
            return SamplingResult(Decision.DROP)
        parent = trace.get_current_span(parent_context).get_span_context()
        return SamplingResult(
            Decision.RECORD_AND_SAMPLE,
            attributes,
            parent.trace_state if parent.is_valid else trace_state,
        )

    def get_description(self) -> str:
        return "WhenExporting"


def configure_tracing(service_name: str, otlp_endpoint: str | None) -> TracerProvider:
    """Trace in this process, and export over OTLP/HTTP when an endpoint is set (spans are
    recorded only then, or once a recorder is added: ``WhenExporting``).

    Returns the provider to ``shutdown()`` on exit (it flushes the spans still batched); a
    process that already has one keeps it.
    """
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = ExportingTracerProvider(resource=Resource.create({"service.name": service_name}))
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

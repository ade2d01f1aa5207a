"""Finished spans kept in memory: the process-wide tracer provider, installed once per run.

OpenTelemetry allows one global tracer provider per process, so every test that records spans
shares this exporter and reads only the spans of its own trace (``in_trace``).
"""

from __future__ import annotations

from collections.abc import Iterable

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

_exporter: InMemorySpanExporter | None = None


def span_recorder() -> InMemorySpanExporter:
    """The exporter every span of this process ends in (installed on first use)."""
    global _exporter  # noqa: PLW0603 - one global provider per process, by OpenTelemetry's rules
    if _exporter is None:
        exporter = InMemorySpanExporter()
        provider = trace.get_tracer_provider()
        if not isinstance(provider, TracerProvider):
            provider = TracerProvider()
            trace.set_tracer_provider(provider)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        _exporter = exporter
    return _exporter


def in_trace(spans: Iterable[ReadableSpan], trace_id: int) -> list[ReadableSpan]:
    return [
        span for span in spans if span.context is not None and span.context.trace_id == trace_id
    ]


def ancestry(span: ReadableSpan, spans: Iterable[ReadableSpan]) -> list[str]:
    """The names from ``span`` up to the root of its trace, ``span`` first."""
    by_id = {s.context.span_id: s for s in spans if s.context is not None}
    names = [span.name]
    parent = span.parent
    while parent is not None and parent.span_id in by_id:
        span = by_id[parent.span_id]
        names.append(span.name)
        parent = span.parent
    return names

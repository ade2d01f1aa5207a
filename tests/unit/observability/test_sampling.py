"""Spans are recorded only while something takes them; unrecorded, they keep their ids (what
log lines and traceparents need)."""

from __future__ import annotations

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from aequatio.observability.tracing import ExportingTracerProvider


def test_without_an_exporter_spans_are_not_recorded_but_keep_their_ids() -> None:
    provider = ExportingTracerProvider(resource=Resource.create({}))
    tracer = provider.get_tracer(__name__)

    with tracer.start_as_current_span("command", attributes={"a": 1}) as span:
        context = span.get_span_context()
        carrier: dict[str, str] = {}
        TraceContextTextMapPropagator().inject(carrier)

    assert not span.is_recording()
    assert context.is_valid
    _, trace_id, span_id, flags = carrier["traceparent"].split("-")
    assert (trace_id, span_id) == (f"{context.trace_id:032x}", f"{context.span_id:016x}")
    assert int(flags, 16) & 0x01 == 0  # not sampled


def test_once_an_exporter_is_added_every_span_is_recorded_whatever_its_parent_says() -> None:
    provider = ExportingTracerProvider(resource=Resource.create({}))
    tracer = provider.get_tracer(__name__)
    with tracer.start_as_current_span("before") as unrecorded:
        pass
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    parent = TraceContextTextMapPropagator().extract(
        {"traceparent": f"00-{unrecorded.get_span_context().trace_id:032x}-00f067aa0ba902b7-00"}
    )
    with tracer.start_as_current_span("after", context=parent, attributes={"a": 1}) as span:
        assert span.is_recording()

    [finished] = exporter.get_finished_spans()
    assert finished.name == "after"
    assert finished.attributes == {"a": 1}
    assert finished.context is not None
    assert finished.context.trace_id == unrecorded.get_span_context().trace_id

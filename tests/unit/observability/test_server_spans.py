"""Server spans while exporting; without an exporter, the caller's trace context all the same."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from aequatio.api.server_spans import instrument
from aequatio.observability.tracing import ExportingTracerProvider

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CALLER_SPAN_ID}-01"


def traced_app(provider: ExportingTracerProvider) -> FastAPI:
    app = FastAPI()

    @app.get("/where")
    async def where() -> dict[str, str]:
        current = trace.get_current_span().get_span_context()
        return {"trace_id": f"{current.trace_id:032x}", "span_id": f"{current.span_id:016x}"}

    instrument(app, tracer_provider=provider)
    return app


async def get_where(app: FastAPI, headers: dict[str, str]) -> dict[str, str]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/where", headers=headers)
    assert response.status_code == 200
    body: dict[str, str] = response.json()
    return body


async def test_without_an_exporter_the_request_runs_in_the_callers_trace_without_a_span() -> None:
    provider = ExportingTracerProvider(resource=Resource.create({}))
    app = traced_app(provider)

    inside = await get_where(app, {"traceparent": TRACEPARENT})

    # The caller's own span is current: no server span was started in between.
    assert inside == {"trace_id": TRACE_ID, "span_id": CALLER_SPAN_ID}


async def test_without_a_traceparent_nothing_is_current() -> None:
    provider = ExportingTracerProvider(resource=Resource.create({}))

    inside = await get_where(traced_app(provider), {})

    assert inside["trace_id"] == f"{0:032x}"


async def test_once_exporting_each_request_gets_a_server_span_in_the_callers_trace() -> None:
    provider = ExportingTracerProvider(resource=Resource.create({}))
    app = traced_app(provider)
    await get_where(app, {"traceparent": TRACEPARENT})  # built before the exporter came
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    inside = await get_where(app, {"traceparent": TRACEPARENT})

    [server] = [span for span in exporter.get_finished_spans() if span.name == "GET /where"]
    assert server.context is not None
    assert server.parent is not None
    assert f"{server.context.trace_id:032x}" == TRACE_ID
    assert f"{server.parent.span_id:016x}" == CALLER_SPAN_ID
    assert inside == {"trace_id": TRACE_ID, "span_id": f"{server.context.span_id:016x}"}

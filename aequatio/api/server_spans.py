"""A server span per HTTP request while spans are exported; the caller's trace otherwise.

OpenTelemetry's FastAPI instrumentation makes a span per request: it matches the route again
to name it, collects the request's attributes and wraps ``send``. About a sixth of a
``balances`` query's CPU went there (profiled) for a span that, with no exporter, is dropped
(``WhenExporting``). Without an exporter only what the span carries on matters: the caller's
``traceparent``, which the command spans, the log lines and the events continue. So each
request goes through one of two stacks built from the same app:

* **exporting** (an OTLP endpoint, or a test's recorder): the instrumented stack, server span
  and all;
* **not exporting**: the plain stack, inside the caller's trace context (W3C
  ``traceparent``/``tracestate``, extracted as the instrumentation would).

The choice is made per request, so a recorder added at run time is honoured at once.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from opentelemetry import context, propagate, trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.trace import TracerProvider
from starlette.types import ASGIApp, Receive, Scope, Send

from aequatio.observability.tracing import ExportingTracerProvider

#: Requests never traced: the probes and the scrapes.
UNTRACED_PATHS = ("/healthz", "/readyz", "/metrics")


def instrument(app: FastAPI, *, tracer_provider: TracerProvider | None = None) -> None:
    """Server spans for ``app``'s requests (HTTP and WebSocket handshakes) when exporting.

    ``tracer_provider``: the provider to ask (default: the global one, looked up per request).
    """
    plain_stack = app.build_middleware_stack
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=tracer_provider,
        excluded_urls=",".join(UNTRACED_PATHS),
        exclude_spans=["receive", "send"],
    )
    traced_stack = app.build_middleware_stack

    def exporting() -> bool:
        provider = tracer_provider or trace.get_tracer_provider()
        # A provider set up by someone else decides for itself: give it every span.
        return not isinstance(provider, ExportingTracerProvider) or provider.exporting

    def build_middleware_stack() -> ASGIApp:
        return ExportAwareSpans(traced=traced_stack(), plain=plain_stack(), exporting=exporting)

    app.build_middleware_stack = build_middleware_stack  # type: ignore[method-assign]


class ExportAwareSpans:
    """Routes each request to the traced or the plain stack (see the module's docstring)."""

    def __init__(self, *, traced: ASGIApp, plain: ASGIApp, exporting: Callable[[], bool]) -> None:
        self.traced = traced
        self.plain = plain
        self.exporting = exporting
        # What a walk down a middleware stack's ``.app`` finds: FastAPI's own telemetry looks
        # for OpenTelemetry's middleware that way, and stands aside when it is there.
        self.app = traced

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.exporting():
            await self.traced(scope, receive, send)
            return
        carrier = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope.get("headers") or ()
            if name in (b"traceparent", b"tracestate")
        }
        if not carrier:
            await self.plain(scope, receive, send)
            return
        token = context.attach(propagate.extract(carrier))
        try:
            await self.plain(scope, receive, send)
        finally:
            context.detach(token)

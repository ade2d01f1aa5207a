"""The FastAPI application: GraphQL over HTTP and WebSocket, health, and the background roles."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from alembic.script import ScriptDirectory
from fastapi import FastAPI, Request, Response

from aequatio.api import health, metrics
from aequatio.api.dashboard import install_dashboard
from aequatio.api.graphql_http import GraphQLEndpoint
from aequatio.api.graphql_ws import WebSocketGraphQL
from aequatio.api.health import Migrations
from aequatio.api.limits import BodySizeLimit
from aequatio.api.server_spans import instrument
from aequatio.api.token_cache import CachingTokenVerifier
from aequatio.bootstrap import bootstrap, build_transport
from aequatio.config import Settings
from aequatio.graphql.context import ContextFactory
from aequatio.graphql.limits import QueryLimits
from aequatio.graphql.live import LiveFeed
from aequatio.graphql.read_store import ReadStore
from aequatio.graphql.schema import build_schema
from aequatio.observability import heap
from aequatio.observability.tracing import configure_tracing
from aequatio.persistence.database import alembic_config
from aequatio.workers import Role, Workers


def create_app(settings: Settings | None = None) -> FastAPI:
    """An app bound to ``settings.database_url`` (``aequatio serve`` fills it in)."""
    settings = settings or Settings()
    database_url = settings.database_url
    if database_url is None:
        raise RuntimeError("create_app needs a database URL; `aequatio serve` provides one")
    roles = Role.parse_all(
        ["all"] if not settings.amqp_url else filter(None, settings.serve_roles.split(","))
    )
    tracer = configure_tracing("aequatio-api", settings.otlp_endpoint)
    application = bootstrap(settings, database_url=database_url)
    workers = Workers(
        application.engine,
        build_transport(settings),
        roles,
        bus=application.bus,
        observe_every=settings.observe_every_seconds,
    )
    store = ReadStore(application.engine)
    live = LiveFeed(workers.transport)
    schema = build_schema(QueryLimits(introspection=settings.introspection))
    verifier = CachingTokenVerifier(settings)
    contexts = ContextFactory(
        bus=application.bus,
        store=store,
        consistency_timeout=settings.consistency_timeout_seconds,
        live=live,
    )
    endpoint = GraphQLEndpoint(
        schema, contexts=contexts, verifier=verifier, graphiql=settings.graphiql_enabled
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await workers.start()
        await live.start()
        heap.settle()  # what startup built is never walked by a collection again
        try:
            yield
        finally:
            heap.release()
            await live.stop()
            await workers.stop()
            await application.aclose()
            tracer.force_flush()

    app = FastAPI(title="aequatio", lifespan=lifespan)
    app.state.application = application
    app.state.workers = workers
    app.state.live = live
    app.state.migrations = Migrations.of(ScriptDirectory.from_config(alembic_config(database_url)))
    app.include_router(health.router)
    app.include_router(metrics.router)
    install_dashboard(app, settings)

    async def graphql(request: Request) -> Response:
        return await endpoint(request)

    # Registered before the WebSocket router, so HTTP requests to /graphql come here. A plain
    # Starlette route: the endpoint reads the request itself, and FastAPI's dependency and
    # response handling cost about 5% of a query's CPU for nothing (profiled).
    app.add_route("/graphql", graphql, methods=["GET", "POST"], include_in_schema=False)
    app.include_router(WebSocketGraphQL(schema, contexts=contexts, verifier=verifier))
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    # A server span per request while spans are exported, the parent of the command spans;
    # not per WebSocket frame, nor for the probes and the scrapes. The caller's
    # ``traceparent`` is continued either way.
    instrument(app)
    return app

"""The FastAPI application factory (GraphQL arrives on top of it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from alembic.script import ScriptDirectory
from fastapi import FastAPI

from aequatio.api import health
from aequatio.bootstrap import bootstrap, build_transport
from aequatio.config import Settings
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

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        application = bootstrap(settings, database_url=database_url)
        workers = Workers(application.engine, build_transport(settings), roles)
        app.state.application = application
        app.state.workers = workers
        app.state.migration_head = ScriptDirectory.from_config(
            alembic_config(database_url)
        ).get_current_head()
        await workers.start()
        try:
            yield
        finally:
            await workers.stop()
            await application.aclose()

    app = FastAPI(title="aequatio", lifespan=lifespan)
    app.include_router(health.router)
    return app

"""The composition root: builds the database engine and the message bus from settings.

Entry points (the CLI, the API, workers, tests) call these and stay thin.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from aequatio.application.bus import MessageBus, utc_now
from aequatio.application.context import CommandContext
from aequatio.application.unit_of_work import UnitOfWork
from aequatio.config import Settings
from aequatio.observability.bus import InstrumentedBus
from aequatio.outbox.amqp import AmqpTransport
from aequatio.outbox.inprocess import InProcessTransport
from aequatio.outbox.transport import Transport
from aequatio.persistence.database import create_engine
from aequatio.persistence.embedded import EmbeddedPostgres
from aequatio.persistence.unit_of_work import SqlUnitOfWork


@dataclass
class Database:
    """Where the database is; ``embedded`` is set when this process started it."""

    url: str
    embedded: EmbeddedPostgres | None = None

    def close(self) -> None:
        if self.embedded is not None:
            self.embedded.stop()


def open_database(settings: Settings) -> Database:
    """The configured server, or the embedded one started in the data folder (blocking)."""
    if settings.database_url:
        return Database(settings.database_url)
    embedded = EmbeddedPostgres(settings.data_dir)
    return Database(embedded.start(), embedded)


def build_transport(settings: Settings) -> Transport:
    """RabbitMQ when configured, else the in-process transport (one process runs every role)."""
    if settings.amqp_url:
        return AmqpTransport(settings.amqp_url)
    return InProcessTransport()


@dataclass
class Application:
    """Everything a process needs to handle commands."""

    settings: Settings
    engine: AsyncEngine
    bus: MessageBus

    async def aclose(self) -> None:
        await self.engine.dispose()


def bootstrap(
    settings: Settings,
    *,
    database_url: str,
    clock: Callable[[], datetime] = utc_now,
    uow_class: type[SqlUnitOfWork] = SqlUnitOfWork,
) -> Application:
    engine = create_engine(
        database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
    )

    def unit_of_work(context: CommandContext) -> UnitOfWork:
        return uow_class(engine, context)

    return Application(
        settings=settings, engine=engine, bus=InstrumentedBus(unit_of_work, clock=clock)
    )

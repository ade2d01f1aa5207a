"""Integration fixtures: a real PostgreSQL at 127.0.0.1:5432, a fresh database per test.

The schema is migrated once into a template database per run; each test gets a copy
(``CREATE DATABASE ... TEMPLATE``) that is dropped afterwards. An unreachable server is a
failure, never a skip.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from aequatio.application.bus import MessageBus
from aequatio.bootstrap import Application, bootstrap
from aequatio.config import Settings
from aequatio.outbox.transport import Transport
from tests.support.broker import virtual_host
from tests.support.databases import copied_database, empty_database, migrated_template
from tests.support.transports import make_transport


@pytest.fixture(scope="session")
def template_database() -> Iterator[str]:
    with migrated_template("aeq_tpl_") as name:
        yield name


@pytest.fixture
async def database_url(template_database: str) -> AsyncIterator[str]:
    async with copied_database(template_database, "aeq_t_") as url:
        yield url


@pytest.fixture
async def empty_database_url() -> AsyncIterator[str]:
    """A database with no schema at all (for migration tests)."""
    async with empty_database("aeq_e_") as url:
        yield url


@pytest.fixture
async def application(database_url: str) -> AsyncIterator[Application]:
    app = bootstrap(
        Settings(database_pool_size=25, database_max_overflow=5), database_url=database_url
    )
    yield app
    await app.aclose()


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    """A virtual host of this test run on the local RabbitMQ, deleted afterwards."""
    with virtual_host() as url:
        yield url


@pytest.fixture
def amqp_transport(amqp_url: str) -> Transport:
    """An unstarted transport on this run's virtual host that deletes its queues when closed."""
    return make_transport("amqp", amqp_url)


@pytest.fixture
def engine(application: Application) -> AsyncEngine:
    return application.engine


@pytest.fixture
def bus(application: Application) -> MessageBus:
    return application.bus

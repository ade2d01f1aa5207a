"""A real ``aequatio serve`` process over HTTP and WebSocket, on a fresh PostgreSQL database,
with the in-process transport (every background role runs inside the server)."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support.api import Api
from tests.support.databases import admin, asyncpg_url
from tests.support.server import Server, serve_process


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    name = f"aeq_e2e_{uuid.uuid4().hex[:10]}"
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    database_url = asyncpg_url(name)
    secret = secrets.token_urlsafe(48)
    log = tmp_path_factory.mktemp("server") / "serve.log"
    env = {
        "AEQUATIO_DATABASE_URL": database_url,
        "AEQUATIO_JWT_SECRET": secret,
        "AEQUATIO_DATA_DIR": str(log.parent / "data"),
        "AEQUATIO_LOG_LEVEL": "WARNING",
        "AEQUATIO_AMQP_URL": "",
    }
    try:
        with serve_process(env, log) as (url, process):
            yield Server(url, secret, database_url, process.pid)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def api(server: Server) -> AsyncIterator[Api]:
    client = Api(server.url, server.secret)
    yield client
    await client.close()

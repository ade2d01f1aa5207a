"""A real ``aequatio serve`` process over HTTP and WebSocket, on a fresh PostgreSQL database,
with the in-process transport (every background role runs inside the server)."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from aequatio.persistence.database import REPOSITORY_ROOT
from tests.support.api import Api
from tests.support.databases import admin, asyncpg_url
from tests.support.server import Server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_ready(url: str, process: subprocess.Popen[bytes], within: float = 60) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"aequatio serve exited with {process.returncode}", pytrace=False)
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail("aequatio serve did not become ready", pytrace=False)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    name = f"aeq_e2e_{uuid.uuid4().hex[:10]}"
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    database_url = asyncpg_url(name)
    port = free_port()
    secret = secrets.token_urlsafe(48)
    log = tmp_path_factory.mktemp("server") / "serve.log"
    env = {
        **os.environ,
        "AEQUATIO_DATABASE_URL": database_url,
        "AEQUATIO_JWT_SECRET": secret,
        "AEQUATIO_DATA_DIR": str(Path(log).parent / "data"),
        "AEQUATIO_LOG_LEVEL": "WARNING",
    }
    env.pop("AEQUATIO_AMQP_URL", None)
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - fixed arguments
            [sys.executable, "-m", "aequatio", "serve", "--port", str(port)],
            cwd=REPOSITORY_ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, process)
        yield Server(url, secret, database_url, process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def api(server: Server) -> AsyncIterator[Api]:
    client = Api(server.url, server.secret)
    yield client
    await client.close()

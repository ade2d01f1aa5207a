"""``aequatio serve --workers 2``: both processes answer, on connections with Nagle's
algorithm off (uvicorn's own listening socket would leave it on: ~40 ms per response)."""

from __future__ import annotations

import asyncio
import secrets
import socket
import uuid
from pathlib import Path

import httpx

from aequatio.api.server import NoDelayConfig
from tests.support.databases import admin, asyncpg_url
from tests.support.server import serve_process


def test_connections_accepted_by_the_workers_socket_have_nodelay() -> None:
    config = NoDelayConfig("aequatio.api.app:create_app", host="127.0.0.1", port=0, workers=2)
    listening = config.bind_socket()
    try:
        listening.listen()
        with socket.create_connection(listening.getsockname()) as _client:
            accepted, _ = listening.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        listening.close()


def test_two_worker_processes_serve_the_api(tmp_path: Path) -> None:
    name = f"aeq_e2e_{uuid.uuid4().hex[:10]}"
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    env = {
        "AEQUATIO_DATABASE_URL": asyncpg_url(name),
        "AEQUATIO_JWT_SECRET": secrets.token_urlsafe(48),
        "AEQUATIO_DATA_DIR": str(tmp_path / "data"),
        "AEQUATIO_LOG_LEVEL": "WARNING",
        "AEQUATIO_AMQP_URL": "",
    }
    try:
        with (
            serve_process(env, tmp_path / "serve.log", args=["--workers", "2"]) as (url, _),
            httpx.Client(base_url=url, timeout=10) as client,
        ):
            answers = [client.post("/graphql", json={"query": "{ __typename }"}) for _ in range(20)]
        assert {answer.status_code for answer in answers} == {200}
        assert {answer.json()["data"]["__typename"] for answer in answers} == {"Query"}
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

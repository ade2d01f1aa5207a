"""SIGTERM to ``aequatio serve``: it stops accepting, answers the request in hand, closes every
WebSocket with 1012 (service restart: clients reconnect elsewhere) and exits 0."""

from __future__ import annotations

import asyncio
import secrets
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import websockets

from aequatio.graphql.ids import encode_event
from tests.support.api import Api
from tests.support.databases import admin, asyncpg_url
from tests.support.live import live
from tests.support.server import serve_process

SERVICE_RESTART = 1012
SPLIT_COMPLETED = "subscription($g: ID!) { splitCompleted(groupId: $g) { id } }"
#: Waits for an event that never comes, up to the consistency bound: a request kept in hand.
ME_AFTER = "query($seen: [ID!]) { me(consistentWith: $seen) { id } }"


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    name = f"aeq_e2e_stop_{uuid.uuid4().hex[:10]}"
    await admin(f'CREATE DATABASE "{name}"')
    yield asyncpg_url(name)
    await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_sigterm_answers_requests_in_hand_closes_websockets_and_exits_0(
    database_url: str, tmp_path: Path
) -> None:
    secret = secrets.token_urlsafe(48)
    env = {
        "AEQUATIO_DATABASE_URL": database_url,
        "AEQUATIO_JWT_SECRET": secret,
        "AEQUATIO_DATA_DIR": str(tmp_path / "data"),
        "AEQUATIO_AMQP_URL": "",
        "AEQUATIO_CONSISTENCY_TIMEOUT_SECONDS": "3",
        "AEQUATIO_LOG_FORMAT": "json",
    }
    with serve_process(env, tmp_path / "serve.log") as (url, process):
        api = Api(url, secret)
        try:
            group, [ann] = await api.family("Ann")
            async with live(url, ann.token) as feed:
                await feed.subscribe(SPLIT_COMPLETED, {"g": group})
                never = encode_event("user.registered", uuid.uuid4())
                in_hand = asyncio.create_task(
                    api.post(ME_AFTER, {"seen": [never]}, token=ann.token)
                )
                await asyncio.sleep(0.5)
                process.send_signal(signal.SIGTERM)

                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await feed.receive(within=10)
                assert closed.value.rcvd is not None
                assert closed.value.rcvd.code == SERVICE_RESTART

                response = await in_hand
                assert response.status_code == 200
                assert response.json()["data"]["me"]["id"] == ann.user_id
                assert await asyncio.to_thread(process.wait, 30) == 0
            with pytest.raises(httpx.ConnectError):
                await api.http.get("/healthz")
        finally:
            await api.close()

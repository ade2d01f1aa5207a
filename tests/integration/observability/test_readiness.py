"""``/readyz``: ready with every check ``ok``; unready, naming the check, while the broker is
stopped or the outbox lags beyond its bound; ready again once that passes."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from aequatio.config import Settings
from tests.support.api import Api
from tests.support.broker import broker_stopped

CHECKS = {"broker", "database", "migrations", "outbox"}


async def readiness(api: Api) -> tuple[int, dict[str, Any]]:
    response = await api.http.get("/readyz")
    return response.status_code, response.json()


async def eventually_ready(api: Api, *, ready: bool, within: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        status, body = await readiness(api)
        if (status == 200) == ready:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"/readyz stayed {status}: {body}")
        await asyncio.sleep(0.2)


async def test_ready_names_every_check(api: Api) -> None:
    status, body = await readiness(api)
    assert status == 200
    assert body == {"status": "ready", "failed": [], "checks": dict.fromkeys(CHECKS, "ok")}


async def test_unready_while_the_broker_is_stopped_and_ready_after(api: Api) -> None:
    async with broker_stopped():
        body = await eventually_ready(api, ready=False)
        assert body["status"] == "unready"
        assert body["failed"] == ["broker"]
        assert body["checks"]["broker"] == "unreachable"
        assert body["checks"]["database"] == "ok"
    body = await eventually_ready(api, ready=True)
    assert body["failed"] == []
    # And it serves again: a write goes through to the read side.
    await api.person("Ann")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"ready_max_outbox_age_seconds": 1.0})


PUT_OFF_NEWEST = text(
    "UPDATE events_outbox SET published_at = NULL, next_attempt_at = now() + interval '1 hour' "
    "WHERE position = (SELECT max(position) FROM events_store)"
)
RETRY_NOW = text("UPDATE events_outbox SET next_attempt_at = NULL WHERE published_at IS NULL")


async def test_unready_while_the_outbox_lags_beyond_its_bound(api: Api, settings: Settings) -> None:
    """An event left unpublished longer than the bound (here: put off, as the dispatcher puts off
    a row the broker refused) makes the process unready until it is delivered."""
    await api.person("Ann")
    engine = create_async_engine(settings.database_url or "")
    try:
        async with engine.begin() as connection:
            await connection.execute(PUT_OFF_NEWEST)
        body = await eventually_ready(api, ready=False, within=10)
        assert body["failed"] == ["outbox"]
        assert re.fullmatch(
            r"oldest unpublished event is \d+s old \(bound 1s\)", body["checks"]["outbox"]
        )
        async with engine.begin() as connection:
            await connection.execute(RETRY_NOW)
        await eventually_ready(api, ready=True, within=10)
    finally:
        await engine.dispose()

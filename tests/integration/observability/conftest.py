"""The API served in the test's own process (its spans and metrics are this process's), on a
fresh database and a virtual host of its own, every background role inside it."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from aequatio.config import Settings
from tests.support.api import Api
from tests.support.broker import virtual_host
from tests.support.server import serving


@pytest.fixture
def broker_url() -> Iterator[str]:
    with virtual_host("aequatio-ops") as url:
        yield url


@pytest.fixture
def secret() -> str:
    return secrets.token_urlsafe(48)


@pytest.fixture
def settings(database_url: str, broker_url: str, secret: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        amqp_url=broker_url,
        serve_roles="dispatcher,projections,sagas",
        jwt_secret=SecretStr(secret),
        data_dir=tmp_path,
    )


@pytest.fixture
async def api(settings: Settings, secret: str) -> AsyncIterator[Api]:
    async with serving(settings) as url:
        client = Api(url, secret)
        try:
            yield client
        finally:
            await client.close()

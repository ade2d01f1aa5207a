"""Both transports, started against this run's broker virtual host; queues a test declared
are deleted after it, so every test starts from a vhost with only the exchanges."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from aequatio.outbox.transport import Transport
from tests.support.transports import make_transport


@pytest.fixture(params=["amqp", "inprocess"])
async def transport(request: pytest.FixtureRequest, amqp_url: str) -> AsyncIterator[Transport]:
    started = make_transport(request.param, amqp_url)
    await started.start()
    yield started
    await started.close()

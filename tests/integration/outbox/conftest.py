"""Both transports, started against this run's broker virtual host; queues a test declared
are deleted after it, so every test starts from a vhost with only the exchanges."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aiormq
import pytest

from aequatio.outbox.amqp import AmqpTransport
from aequatio.outbox.inprocess import InProcessTransport
from aequatio.outbox.topology import Topology
from aequatio.outbox.transport import Transport


class CleanAmqpTransport(AmqpTransport):
    """Remembers the queues it declared and deletes them when closed."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url
        self.declared: set[str] = set()

    async def declare(self, topology: Topology) -> None:
        for queue in topology.queues:
            self.declared |= {queue.name, queue.dead_letter_queue}
        await super().declare(topology)

    async def close(self) -> None:
        await super().close()
        connection = await aiormq.connect(self.url)
        try:
            channel = await connection.channel()
            for name in self.declared:
                with contextlib.suppress(aiormq.exceptions.AMQPError):
                    await channel.queue_delete(name)
        finally:
            await connection.close()


@pytest.fixture(params=["amqp", "inprocess"])
async def transport(request: pytest.FixtureRequest, amqp_url: str) -> AsyncIterator[Transport]:
    started: Transport = (
        CleanAmqpTransport(amqp_url) if request.param == "amqp" else InProcessTransport()
    )
    await started.start()
    yield started
    await started.close()

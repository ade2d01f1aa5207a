"""Transports for tests: an AMQP transport that deletes the queues it declared when closed."""

from __future__ import annotations

import contextlib

import aiormq

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


def make_transport(kind: str, amqp_url: str) -> Transport:
    """A new, unstarted transport: ``amqp`` (this run's vhost) or ``inprocess``."""
    return CleanAmqpTransport(amqp_url) if kind == "amqp" else InProcessTransport()

"""The network between the application and the broker goes silent: a half-open connection.

A TCP proxy sits between the application and RabbitMQ and, mid-load, silently drops every byte
of the open connection in both directions while keeping its sockets open — no FIN, no RST, the
kernel sees nothing wrong. Only AMQP heartbeats can tell. The application must give the
connection up within two heartbeats, reconnect through the proxy, get its one consumer per
queue back, and in the end have lost nothing.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from aequatio.bootstrap import Application
from aequatio.outbox.amqp import AmqpTransport
from aequatio.workers import Role
from tests.support.faultbroker import queue_watch
from tests.support.faultcheck import QUEUES, assert_consistent
from tests.support.faultload import Ledger
from tests.support.faultscale import scaled
from tests.support.proxy import BlackholeProxy
from tests.support.readside import read_side

#: The negotiated heartbeat timeout in seconds (the broker sends a heartbeat every half).
HEARTBEAT = 3
OUTAGES = scaled(2, 10)
EVENTS = scaled(200, 3_000)
RECOVERY_SECONDS = 10.0
NORMAL = dict.fromkeys(QUEUES, 1)
ALL_ROLES = (Role.DISPATCHER, Role.PROJECTIONS, Role.SAGAS)

pytestmark = pytest.mark.timeout(scaled(180, 3600))


async def test_a_half_open_broker_connection_is_detected_within_two_heartbeats(
    application: Application, amqp_url: str, rng: random.Random
) -> None:
    ledger = await Ledger.open(application, rng)
    proxy = BlackholeProxy.towards(amqp_url)
    await proxy.start()
    transport = AmqpTransport(proxy.url(amqp_url, heartbeat=HEARTBEAT))
    detected: list[float] = []
    try:
        async with (
            queue_watch(amqp_url) as watch,
            read_side(application.engine, transport, ALL_ROLES, bus=application.bus),
        ):
            for _ in range(OUTAGES):
                load = asyncio.create_task(ledger.commit(EVENTS // OUTAGES))
                await asyncio.sleep(rng.uniform(0.2, 1.0))  # mid-stream
                hole = proxy.blackhole()
                assert len(hole.pipes) == 1, "one connection carries every role"
                detected.append(await hole.clients_gave_up(within=4 * HEARTBEAT))

                async with asyncio.timeout(RECOVERY_SECONDS):
                    while not (  # noqa: ASYNC110 - polls the broker
                        transport.connected
                        and proxy.open_connections == 1
                        and await watch.consumers(QUEUES) == NORMAL
                    ):
                        await asyncio.sleep(0.1)
                await load
            print(f"half-open connection given up after {[round(d, 2) for d in detected]} s")
            assert max(detected) <= 2 * HEARTBEAT, detected
            await assert_consistent(application.engine, amqp_url=amqp_url)
    finally:
        await proxy.close()

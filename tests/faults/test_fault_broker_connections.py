"""The broker closes the application's connections again and again during a steady load.

The application (dispatcher, every projection and both sagas on one transport) logs in as a
broker user of its own, so closing that user's connections hits only it. Each time, every
queue must be back to exactly one consumer within 10 seconds (no queue left without, none
with a duplicate), and in the end nothing is lost or applied twice.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from aequatio.bootstrap import Application
from aequatio.outbox.amqp import AmqpTransport
from aequatio.workers import Role
from tests.support.faultbroker import BrokerUser, QueueWatch, broker_user, queue_watch
from tests.support.faultcheck import QUEUES, assert_consistent
from tests.support.faultload import Ledger
from tests.support.faultscale import scaled
from tests.support.readside import read_side

CLOSES = scaled(2, 20)
EVENTS = scaled(300, 5_000)
RECOVERY_SECONDS = 10.0
NORMAL = dict.fromkeys(QUEUES, 1)
#: One process, one connection: dispatcher, every projection and both sagas.
ALL_ROLES = (Role.DISPATCHER, Role.PROJECTIONS, Role.SAGAS)

pytestmark = pytest.mark.timeout(scaled(180, 3600))


async def dropped(transport: AmqpTransport) -> float:
    """Loop time at which the transport noticed its connection was gone."""
    while transport.connected:  # noqa: ASYNC110 - polls the transport's own flag
        await asyncio.sleep(0.005)
    return asyncio.get_running_loop().time()


async def recovery(
    user: BrokerUser, watch: QueueWatch, transport: AmqpTransport, before: list[str]
) -> tuple[float, list[str]]:
    """Close the user's connection ``before``; seconds from the drop until every queue has its
    one consumer back, and the new connection (``rabbitmqctl`` takes seconds to start: it stays
    out of the timed loop)."""
    loop = asyncio.get_running_loop()
    assert len(before) == 1, before
    commanded = loop.time()
    noticing = asyncio.create_task(dropped(transport))
    await user.close_connections()
    async with asyncio.timeout(RECOVERY_SECONDS * 3):
        # Unnoticed (too quick a reconnect): timed from the command, an upper bound.
        done, _ = await asyncio.wait({noticing}, timeout=5)
        started = noticing.result() if done else commanded
        noticing.cancel()
        while not (  # noqa: ASYNC110 - polls the broker
            transport.connected and await watch.consumers(QUEUES) == NORMAL
        ):
            await asyncio.sleep(0.02)
        took = loop.time() - started
    now = await user.connections()
    assert len(now) == 1, now
    assert now != before, "the connection was not replaced"
    return took, now


async def test_connections_closed_during_a_load_recover_within_seconds_and_lose_nothing(
    application: Application, amqp_url: str, rng: random.Random
) -> None:
    ledger = await Ledger.open(application, rng)
    took: list[float] = []
    async with broker_user(amqp_url) as user, queue_watch(amqp_url) as watch:
        transport = AmqpTransport(user.url)
        async with read_side(application.engine, transport, ALL_ROLES, bus=application.bus):
            connection = await user.connections()
            for _ in range(CLOSES):
                load = asyncio.create_task(ledger.commit(EVENTS // CLOSES))
                await asyncio.sleep(rng.uniform(0.1, 1.0))  # mid-stream
                seconds, connection = await recovery(user, watch, transport, connection)
                took.append(seconds)
                await load
            print(f"{CLOSES} closes, recovered in {[round(t, 2) for t in took]} s")
            assert max(took) <= RECOVERY_SECONDS, took
            await assert_consistent(application.engine, amqp_url=amqp_url)
            assert await watch.consumers(QUEUES) == NORMAL

"""The live feed fans events out per group and drops a subscriber that cannot keep up —
that subscriber only, never the feed or the others."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from aequatio.events.catalog import EVENTS
from aequatio.events.envelope import Envelope
from aequatio.events.registry import EventRegistry
from aequatio.graphql.live import LiveFeed, SlowConsumer
from aequatio.outbox.codec import to_message
from aequatio.outbox.topology import Topology
from aequatio.outbox.transport import Transport
from tests.support.envelopes import an_envelope
from tests.support.transports import make_transport

GROUP, OTHER = uuid.uuid4(), uuid.uuid4()


def event(group: uuid.UUID, index: int) -> Envelope:
    payload = {
        "invoice_id": str(uuid.uuid4()),
        "group_id": str(group),
        "paid_by": str(uuid.uuid4()),
    }
    return an_envelope("invoice.paid", payload, aggregate_version=index + 2)


async def publish(transport: Transport, registry: EventRegistry, envelopes: list[Envelope]) -> None:
    await transport.publish([to_message(envelope, registry) for envelope in envelopes])


@pytest.fixture(params=["amqp", "inprocess"])
async def transport(request: pytest.FixtureRequest, amqp_url: str) -> AsyncIterator[Transport]:
    started = make_transport(request.param, amqp_url)
    await started.start()
    await started.declare(Topology())  # the exchanges the feed's queue binds to
    yield started
    await started.close()


async def test_each_subscriber_gets_its_groups_events_and_a_slow_one_is_dropped(
    transport: Transport,
) -> None:
    feed = LiveFeed(transport, buffer=5)
    await feed.start()
    try:
        async with (
            feed.subscribe(GROUP, {"invoice.paid"}) as slow,
            feed.subscribe(GROUP, {"invoice.paid"}) as keen,
            feed.subscribe(OTHER, {"invoice.paid"}) as elsewhere,
        ):
            received: list[Envelope] = []

            async def read_keenly() -> None:
                async for arrival in keen:
                    received.append(arrival.envelope)
                    if len(received) == 20:
                        return

            reader = asyncio.create_task(read_keenly())
            sent = [event(GROUP, index) for index in range(20)]
            for envelope in sent:  # one at a time, so the keen reader keeps up
                await publish(transport, EVENTS, [envelope])
                await asyncio.sleep(0.01)
            await asyncio.wait_for(reader, 10)

            with pytest.raises(SlowConsumer):
                async for _ in slow:  # never read while 20 arrived: dropped after 5
                    pass
            assert slow.dropped
            assert [e.event_id for e in received] == [e.event_id for e in sent]
            assert not elsewhere.dropped
        assert feed.subscriber_count == 0
    finally:
        await feed.stop()


async def test_every_api_process_gets_every_event_for_its_own_subscribers(amqp_url: str) -> None:
    """Two processes = two connections, each with its own exclusive queue."""
    first, second = make_transport("amqp", amqp_url), make_transport("amqp", amqp_url)
    for transport in (first, second):
        await transport.start()
        await transport.declare(Topology())
    feeds = [LiveFeed(first), LiveFeed(second)]
    for feed in feeds:
        await feed.start()
    try:
        assert feeds[0].queue != feeds[1].queue
        async with (
            feeds[0].subscribe(GROUP, {"invoice.paid"}) as here,
            feeds[1].subscribe(GROUP, {"invoice.paid"}) as there,
        ):
            sent = event(GROUP, 0)
            await publish(first, EVENTS, [sent])
            got = await asyncio.wait_for(
                asyncio.gather(anext(aiter(here)), anext(aiter(there))), 10
            )
        assert [a.envelope.event_id for a in got] == [sent.event_id, sent.event_id]
    finally:
        for feed in feeds:
            await feed.stop()
        for transport in (first, second):
            await transport.close()

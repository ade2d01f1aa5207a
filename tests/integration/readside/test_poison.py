"""A message no projection can apply is parked in ``<queue>.dlq`` with its event id and the
error, after the retry limit; the messages behind it are still applied."""

from __future__ import annotations

import asyncio

from aequatio.bootstrap import Application
from aequatio.events.registry import UnknownEvent
from aequatio.outbox.messages import Delivery, InboundMessage, OutboundMessage, PublishOutcome
from aequatio.outbox.topology import DOMAIN_EVENTS
from aequatio.outbox.transport import Transport
from aequatio.projections.catalog import by_name
from tests.support.envelopes import an_envelope
from tests.support.family import family
from tests.support.history import rich_history
from tests.support.readside import read_side, wait_caught_up
from tests.support.recompute import projected_balances, recompute_balances


def poison() -> OutboundMessage:
    """An expense event of a version this code does not know."""
    envelope = an_envelope("expense.created", {"nonsense": True}, event_version=99, actor="mallory")
    return OutboundMessage(
        exchange=DOMAIN_EVENTS,
        routing_key="expenses.expense.created",
        body=envelope.model_dump_json().encode(),
        message_id=str(envelope.event_id),
    )


async def first_parked(transport: Transport, queue: str) -> InboundMessage:
    parked: asyncio.Queue[InboundMessage] = asyncio.Queue()

    async def take(delivery: Delivery) -> None:
        await parked.put(delivery.message)
        await delivery.ack()

    consumer = await transport.consume(queue, take, prefetch=1)
    try:
        return await asyncio.wait_for(parked.get(), timeout=30)
    finally:
        await consumer.cancel()


async def test_a_poison_message_is_dead_lettered_and_the_rest_flows(
    application: Application, transport: Transport
) -> None:
    bad = poison()
    async with read_side(application.engine, transport) as workers:
        await family(application.bus, "Ann", "Ben")
        publishing = asyncio.create_task(workers.transport.publish([bad]))
        await rich_history(application.bus)
        await wait_caught_up(application.engine)
        assert await publishing == [PublishOutcome.CONFIRMED]

        balances = by_name("balances")
        parked = await first_parked(workers.transport, balances.queue().dead_letter_queue)

    assert parked.message_id == bad.message_id
    assert parked.headers["x-original-queue"] == balances.consumer
    assert parked.headers["x-error-type"] == UnknownEvent.__name__
    assert int(str(parked.headers["x-attempts"])) >= 3
    async with application.engine.connect() as connection:
        assert await projected_balances(connection) == await recompute_balances(connection)

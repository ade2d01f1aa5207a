"""``ConsumerLoop`` over both transports: retries, dead letters, transient errors and stopping."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import aiormq
import pytest

from aequatio.events.catalog import EVENTS
from aequatio.events.envelope import ENVELOPE_SCHEMA_ID, Envelope
from aequatio.outbox.amqp import AmqpTransport
from aequatio.outbox.codec import to_message
from aequatio.outbox.consumer import ConsumerLoop, RetryPolicy
from aequatio.outbox.inprocess import InProcessTransport
from aequatio.outbox.messages import Delivery, InboundMessage, OutboundMessage, PublishOutcome
from aequatio.outbox.topology import Queue, Topology
from aequatio.outbox.transport import Transport
from tests.support.envelopes import an_envelope

AMQP_URL = os.environ.get("AEQUATIO_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
TIMEOUT = 10.0
GRACE = 0.3
FAST = RetryPolicy(attempts=3, initial_delay=0.01, max_delay=0.05)
CONFIRMED = PublishOutcome.CONFIRMED

pytestmark = pytest.mark.timeout(60)

T = TypeVar("T")


async def within(awaitable: Awaitable[T]) -> T:
    return await asyncio.wait_for(awaitable, TIMEOUT)


def never_transient(_: BaseException) -> bool:
    return False


def connection_errors(error: BaseException) -> bool:
    return isinstance(error, ConnectionError)


class Broker:
    def __init__(self, kind: str, transport: Transport) -> None:
        self.kind = kind
        self.transport = transport
        self.token = uuid.uuid4().hex[:12]
        self.queue = Queue(f"projection.loop-{self.token}", (f"t{self.token}.#",))

    def envelope(self, event_type: str = "expense.created") -> Envelope:
        return an_envelope(
            event_type,
            {"note": "consumer loop"},
            schema_id=ENVELOPE_SCHEMA_ID,
            aggregate_type="expense",
            actor="tests",
        )

    def message(self, envelope: Envelope) -> OutboundMessage:
        """The envelope as the outbox publishes it, under this test's routing-key prefix."""
        message = to_message(envelope, EVENTS)
        return dataclasses.replace(message, routing_key=f"t{self.token}.{message.routing_key}")

    def raw(self, body: bytes) -> OutboundMessage:
        message = self.message(self.envelope())
        return dataclasses.replace(message, body=body, message_id=f"raw-{uuid.uuid4()}")

    def loop(
        self,
        handler: Callable[[Envelope], Awaitable[None]],
        *,
        is_transient: Callable[[BaseException], bool] = never_transient,
        retry: RetryPolicy = FAST,
    ) -> ConsumerLoop:
        return ConsumerLoop(
            self.transport, self.queue, handler, is_transient=is_transient, retry=retry
        )

    def publishing(self, messages: list[OutboundMessage]) -> asyncio.Task[list[PublishOutcome]]:
        return asyncio.create_task(self.transport.publish(messages))

    async def dead_letters(self) -> DeadLetters:
        parked = DeadLetters()
        await within(self.transport.consume(self.queue.dead_letter_queue, parked, prefetch=10))
        return parked


class DeadLetters:
    """What arrives in the dead-letter queue."""

    def __init__(self) -> None:
        self.arrived: asyncio.Queue[InboundMessage] = asyncio.Queue()

    async def __call__(self, delivery: Delivery) -> None:
        await delivery.ack()
        self.arrived.put_nowait(delivery.message)

    async def next(self) -> InboundMessage:
        return await within(self.arrived.get())

    async def none(self) -> None:
        await asyncio.sleep(GRACE)
        assert self.arrived.empty(), f"dead-lettered: {self.arrived.get_nowait()}"


class Handled:
    """An envelope handler that records each call; ``fail`` decides whether a call raises."""

    def __init__(self, fail: Callable[[Envelope, int], BaseException | None] | None = None):
        self._fail = fail
        self.calls: list[uuid.UUID] = []
        self.done: asyncio.Queue[uuid.UUID] = asyncio.Queue()

    async def __call__(self, envelope: Envelope) -> None:
        self.calls.append(envelope.event_id)
        if self._fail is not None:
            error = self._fail(envelope, self.calls.count(envelope.event_id))
            if error is not None:
                raise error
        self.done.put_nowait(envelope.event_id)

    async def next(self) -> uuid.UUID:
        return await within(self.done.get())


async def delete_queue(queue: Queue) -> None:
    connection = await aiormq.connect(AMQP_URL)
    try:
        channel = await connection.channel()
        await channel.queue_delete(queue.name)
        await channel.queue_delete(queue.dead_letter_queue)
    finally:
        await connection.close()


@pytest.fixture(params=["amqp", "inprocess"])
async def broker(request: pytest.FixtureRequest) -> AsyncIterator[Broker]:
    transport: Transport = (
        AmqpTransport(AMQP_URL) if request.param == "amqp" else InProcessTransport()
    )
    await within(transport.start())
    broker = Broker(request.param, transport)
    try:
        await within(transport.declare(Topology().with_queues(broker.queue)))
        yield broker
    finally:
        await within(transport.close())
        if request.param == "amqp":
            await within(delete_queue(broker.queue))


async def test_a_failing_message_is_dead_lettered_after_its_attempts_and_the_next_flows_on(
    broker: Broker,
) -> None:
    poison, healthy = broker.envelope(), broker.envelope("expense.amended")

    def fail(envelope: Envelope, _call: int) -> BaseException | None:
        return ValueError("cannot apply this one") if envelope == poison else None

    handled = Handled(fail)
    parked = await broker.dead_letters()
    loop = broker.loop(handled)
    await loop.start()
    sent = [broker.message(poison), broker.message(healthy)]
    publishing = broker.publishing(sent)

    dead = await parked.next()
    assert await handled.next() == healthy.event_id

    assert handled.calls == [poison.event_id] * 3 + [healthy.event_id]
    assert dead.message_id == str(poison.event_id)
    assert dead.body == sent[0].body
    assert dead.routing_key == broker.queue.dead_letter_queue
    headers = dead.headers
    assert headers["x-error"] == "cannot apply this one"
    assert headers["x-error-type"] == "ValueError"
    assert headers["x-attempts"] == 3
    assert headers["x-original-queue"] == broker.queue.name
    assert headers["x-original-routing-key"] == sent[0].routing_key
    assert headers["event_type"] == "expense.created"  # the original headers stay
    assert await within(publishing) == [CONFIRMED, CONFIRMED]
    # Both were settled: nothing comes back.
    await parked.none()
    assert handled.calls == [poison.event_id] * 3 + [healthy.event_id]
    await within(loop.stop())


async def test_a_transient_error_is_retried_until_it_passes_and_never_dead_lettered(
    broker: Broker,
) -> None:
    flaky, behind = broker.envelope(), broker.envelope("expense.amended")

    def outage(envelope: Envelope, call: int) -> BaseException | None:
        # More failures than ``attempts``: transient ones do not count.
        return ConnectionError("database unreachable") if envelope == flaky and call <= 5 else None

    handled = Handled(outage)
    parked = await broker.dead_letters()
    loop = broker.loop(handled, is_transient=connection_errors)
    await loop.start()
    publishing = broker.publishing([broker.message(flaky), broker.message(behind)])

    # The message behind waits for the flaky one: it never overtakes.
    assert [await handled.next(), await handled.next()] == [flaky.event_id, behind.event_id]
    assert handled.calls == [flaky.event_id] * 6 + [behind.event_id]
    assert await within(publishing) == [CONFIRMED, CONFIRMED]
    await parked.none()
    assert handled.calls == [flaky.event_id] * 6 + [behind.event_id]
    await within(loop.stop())


@pytest.mark.parametrize(
    "body",
    [b"not json at all", b'{"valid": "json", "but": "no envelope"}', b"\xff\xfe\x00"],
    ids=["garbage", "not-an-envelope", "binary"],
)
async def test_an_undecodable_body_goes_straight_to_the_dead_letter_queue(
    broker: Broker, body: bytes
) -> None:
    handled = Handled()
    parked = await broker.dead_letters()
    loop = broker.loop(handled)
    await loop.start()
    poison, healthy = broker.raw(body), broker.envelope()
    publishing = broker.publishing([poison, broker.message(healthy)])

    dead = await parked.next()
    assert await handled.next() == healthy.event_id

    assert handled.calls == [healthy.event_id]
    assert dead.message_id == poison.message_id
    assert dead.body == body
    assert dead.headers["x-error-type"] == "UndecodableMessage"
    assert dead.headers["x-attempts"] == 1
    assert dead.headers["x-original-queue"] == broker.queue.name
    assert str(dead.headers["x-error"]).startswith("not an event envelope")
    assert await within(publishing) == [CONFIRMED, CONFIRMED]
    await parked.none()
    await within(loop.stop())


async def test_stop_finishes_the_message_in_hand_and_leaves_the_rest(broker: Broker) -> None:
    in_hand, release = asyncio.Event(), asyncio.Event()
    first = broker.envelope()

    async def slow(envelope: Envelope) -> None:
        if envelope == first:
            in_hand.set()
            await release.wait()

    handled = Handled()

    async def handler(envelope: Envelope) -> None:
        await slow(envelope)
        await handled(envelope)

    loop = broker.loop(handler)
    await loop.start()
    rest = [broker.envelope() for _ in range(3)]
    publishing = broker.publishing([broker.message(e) for e in [first, *rest]])
    await within(in_hand.wait())
    await asyncio.sleep(GRACE)

    stopping = asyncio.create_task(loop.stop())
    await asyncio.sleep(GRACE)
    assert not stopping.done(), "stop() returned while a message was in hand"
    release.set()
    await within(stopping)
    assert handled.calls == [first.event_id]

    successor = Handled()
    next_loop = broker.loop(successor)
    await next_loop.start()
    assert [await successor.next() for _ in rest] == [e.event_id for e in rest]
    assert await within(publishing) == [CONFIRMED] * 4
    await asyncio.sleep(GRACE)
    assert successor.calls == [e.event_id for e in rest]  # the first was acked: not again
    await within(next_loop.stop())


async def test_stop_during_an_outage_gives_the_message_back(broker: Broker) -> None:
    stuck = broker.envelope()
    failing = Handled(lambda _envelope, _call: ConnectionError("database unreachable"))
    parked = await broker.dead_letters()
    loop = broker.loop(failing, is_transient=connection_errors)
    await loop.start()
    publishing = broker.publishing([broker.message(stuck)])

    async def retried() -> None:
        while True:
            if len(failing.calls) >= 3:
                return
            await asyncio.sleep(0.01)

    await within(retried())
    await within(loop.stop())

    successor = Handled()
    next_loop = broker.loop(successor)
    await next_loop.start()
    assert await successor.next() == stuck.event_id
    assert await within(publishing) == [CONFIRMED]
    await parked.none()
    await within(next_loop.stop())

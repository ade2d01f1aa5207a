"""The transport contract: the same tests against RabbitMQ (``AmqpTransport``) and in memory.

Every test runs twice, once per adapter, and only relies on what the ``Transport`` port
promises. The in-process adapter confirms a publish only once the consumers of the durable
queues settled it, so consumers are started before publishing, or the publish runs as a task
that is awaited at the end. Queue names and routing keys carry a per-test token, so tests
never see each other's messages; the AMQP queues (and their ``.dlq``) are deleted afterwards.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TypeVar

import aiormq
import pytest

from aequatio.outbox.amqp import AmqpTransport
from aequatio.outbox.inprocess import InProcessTransport
from aequatio.outbox.messages import (
    Delivery,
    HeaderValue,
    InboundMessage,
    OutboundMessage,
    PublishOutcome,
)
from aequatio.outbox.topology import DELIVERY_LIMIT, DOMAIN_EVENTS, Queue, Topology
from aequatio.outbox.transport import Consumer, Transport, TransportUnavailable

#: Upper bound for anything the tests wait for.
TIMEOUT = 10.0
#: How long "nothing else arrives" is watched for.
GRACE = 0.3

pytestmark = pytest.mark.timeout(60)

T = TypeVar("T")
Behaviour = Callable[[Delivery], Awaitable[None]]


async def within(awaitable: Awaitable[T]) -> T:
    return await asyncio.wait_for(awaitable, TIMEOUT)


async def ack(delivery: Delivery) -> None:
    await delivery.ack()


async def requeue(delivery: Delivery) -> None:
    await delivery.requeue()


class Recorder:
    """A delivery handler that settles each delivery as told and keeps what it was given."""

    def __init__(self, behaviour: Behaviour = ack) -> None:
        self._behaviour = behaviour
        self._arrived: asyncio.Queue[InboundMessage] = asyncio.Queue()
        self.seen: list[InboundMessage] = []

    async def __call__(self, delivery: Delivery) -> None:
        try:
            await self._behaviour(delivery)
        finally:
            # Recorded once settled (or once the behaviour raised).
            self.seen.append(delivery.message)
            self._arrived.put_nowait(delivery.message)

    async def next(self) -> InboundMessage:
        return await within(self._arrived.get())

    async def take(self, count: int) -> list[InboundMessage]:
        return [await self.next() for _ in range(count)]

    async def nothing_more(self, grace: float = GRACE) -> None:
        await asyncio.sleep(grace)
        extra = [self._arrived.get_nowait() for _ in range(self._arrived.qsize())]
        assert extra == [], f"unexpected deliveries: {ids(extra)}"


def ids(messages: Sequence[InboundMessage | OutboundMessage]) -> list[str]:
    return [message.message_id for message in messages]


class Broker:
    """One adapter, started, plus unique names for one test."""

    def __init__(self, kind: str, transport: Transport) -> None:
        self.kind = kind
        self.transport = transport
        self.token = uuid.uuid4().hex[:12]
        self.queues: list[Queue] = []

    def queue(self, label: str, *patterns: str, delivery_limit: int = DELIVERY_LIMIT) -> Queue:
        """A consumer queue bound to ``patterns`` under this test's routing-key prefix."""
        queue = Queue(
            f"projection.contract-{label}-{self.token}",
            tuple(self.key(pattern) for pattern in patterns),
            delivery_limit=delivery_limit,
        )
        self.queues.append(queue)
        return queue

    def key(self, suffix: str) -> str:
        """A routing key (or pattern) under this test's prefix; ``""`` is the prefix alone."""
        return f"t{self.token}.{suffix}" if suffix else f"t{self.token}"

    async def declare(self, *queues: Queue) -> None:
        await self.transport.declare(Topology().with_queues(*queues))

    def message(
        self,
        suffix: str,
        *,
        body: bytes | None = None,
        headers: dict[str, HeaderValue] | None = None,
        mandatory: bool = True,
    ) -> OutboundMessage:
        message_id = str(uuid.uuid4())
        return OutboundMessage(
            exchange=DOMAIN_EVENTS,
            routing_key=self.key(suffix),
            body=body if body is not None else f"body of {message_id}".encode(),
            message_id=message_id,
            headers=headers or {},
            mandatory=mandatory,
        )

    def publishing(self, messages: Sequence[OutboundMessage]) -> asyncio.Task[list[PublishOutcome]]:
        """Publish as a task (the in-process adapter returns once consumers settled)."""
        return asyncio.create_task(self.transport.publish(messages))


async def delete_queues(url: str, queues: Sequence[Queue]) -> None:
    connection = await aiormq.connect(url)
    try:
        channel = await connection.channel()
        for queue in queues:
            await channel.queue_delete(queue.name)
            await channel.queue_delete(queue.dead_letter_queue)
    finally:
        await connection.close()


@pytest.fixture(params=["amqp", "inprocess"])
async def broker(request: pytest.FixtureRequest, amqp_url: str) -> AsyncIterator[Broker]:
    """The adapter under test; the AMQP one on this run's own virtual host (whatever else a
    shared broker holds, a binding to ``#`` there would route the "unroutable" messages)."""
    transport: Transport = (
        AmqpTransport(amqp_url) if request.param == "amqp" else InProcessTransport()
    )
    await within(transport.start())
    broker = Broker(request.param, transport)
    try:
        yield broker
    finally:
        await within(transport.close())
        if request.param == "amqp":
            await within(delete_queues(amqp_url, broker.queues))


async def consume(broker: Broker, queue: Queue, handler: Recorder, prefetch: int = 10) -> Consumer:
    return await within(broker.transport.consume(queue.name, handler, prefetch=prefetch))


CONFIRMED = PublishOutcome.CONFIRMED
UNROUTABLE = PublishOutcome.UNROUTABLE


async def test_topic_routing_reaches_every_bound_queue_and_only_those(broker: Broker) -> None:
    queues = {
        "one-word": broker.queue("one-word", "*"),
        "any-words": broker.queue("any-words", "#"),
        "created": broker.queue("created", "*.created"),
        "deep-created": broker.queue("deep-created", "#.created"),
        "exact": broker.queue("exact", "expense.created"),
    }
    await broker.declare(*queues.values())
    recorders = {label: Recorder() for label in queues}
    for label, queue in queues.items():
        await consume(broker, queue, recorders[label])
    expected_routes = {
        "": {"any-words"},  # '#' matches zero words
        "x": {"one-word", "any-words"},
        "created": {"one-word", "any-words", "deep-created"},
        "expense.created": {"any-words", "created", "deep-created", "exact"},
        "expense.amended": {"any-words"},
        "a.b.created": {"any-words", "deep-created"},
        "x.y": {"any-words"},
    }
    messages = {suffix: broker.message(suffix) for suffix in expected_routes}
    nowhere = OutboundMessage(DOMAIN_EVENTS, f"nowhere{broker.token}.created", b"{}", "nowhere")

    outcomes = await within(broker.transport.publish([*messages.values(), nowhere]))

    assert outcomes == [CONFIRMED] * len(messages) + [UNROUTABLE]
    for label, recorder in recorders.items():
        wanted = {
            messages[suffix].message_id for suffix, to in expected_routes.items() if label in to
        }
        got = await recorder.take(len(wanted))
        assert {message.message_id for message in got} == wanted, label
        await recorder.nothing_more()
    routed = {
        message.message_id: message.routing_key for r in recorders.values() for message in r.seen
    }
    assert routed == {message.message_id: message.routing_key for message in messages.values()}


async def test_each_queue_delivers_in_publish_order(broker: Broker) -> None:
    first, second = broker.queue("order-a", "#"), broker.queue("order-b", "expense.*")
    await broker.declare(first, second)
    recorders = Recorder(), Recorder()
    await consume(broker, first, recorders[0], prefetch=7)
    await consume(broker, second, recorders[1], prefetch=50)
    batches = [
        [broker.message(f"expense.e{batch}{index}") for index in range(25)] for batch in range(3)
    ]

    for batch in batches:
        assert await within(broker.transport.publish(batch)) == [CONFIRMED] * len(batch)

    published = ids([message for batch in batches for message in batch])
    for recorder in recorders:
        assert ids(await recorder.take(len(published))) == published
        await recorder.nothing_more()


async def test_publish_calls_started_together_deliver_in_the_order_they_were_made(
    broker: Broker,
) -> None:
    """The dispatcher's pipeline: the next batch is handed over before the last is confirmed."""
    queue = broker.queue("order-pipelined", "#")
    await broker.declare(queue)
    recorder = Recorder()
    await consume(broker, queue, recorder, prefetch=50)
    batches = [
        [broker.message(f"expense.p{batch}{index}") for index in range(40)] for batch in range(4)
    ]

    outcomes = await within(asyncio.gather(*(broker.transport.publish(b) for b in batches)))

    assert outcomes == [[CONFIRMED] * 40] * 4
    published = ids([message for batch in batches for message in batch])
    assert ids(await recorder.take(len(published))) == published
    await recorder.nothing_more()


async def test_publish_outcomes_follow_each_message_of_a_batch(broker: Broker) -> None:
    queue = broker.queue("outcomes", "expense.*")
    await broker.declare(queue)
    recorder = Recorder()
    await consume(broker, queue, recorder)
    batch = [
        broker.message("expense.created"),
        broker.message("group.created"),  # mandatory, nothing bound: returned
        broker.message("expense.amended"),
        broker.message("group.renamed", mandatory=False),  # not mandatory: dropped, confirmed
    ]

    outcomes = await within(broker.transport.publish(batch))

    assert outcomes == [CONFIRMED, UNROUTABLE, CONFIRMED, CONFIRMED]
    assert ids(await recorder.take(2)) == ids([batch[0], batch[2]])
    await recorder.nothing_more()


async def test_body_message_id_routing_key_and_headers_round_trip(broker: Broker) -> None:
    queue = broker.queue("round-trip", "#")
    await broker.declare(queue)
    recorder = Recorder()
    await consume(broker, queue, recorder)
    headers: dict[str, HeaderValue] = {
        "event_type": "expense.created",
        "event_version": 3,
        "negative": -7,
        "large": 2**40,
        "flag": True,
        "off": False,
        "empty": "",
        "unicode": "Zürich — 東京",
    }
    body = bytes(range(256)) + "ünïcode".encode()
    sent = broker.message("expense.created", body=body, headers={**headers, "absent": None})

    assert await within(broker.transport.publish([sent])) == [CONFIRMED]

    received = await recorder.next()
    assert received.body == body
    assert received.message_id == sent.message_id
    assert received.routing_key == sent.routing_key
    # A header without a value is left out rather than sent as something else.
    assert dict(received.headers) == headers
    assert received.redelivered is False
    assert received.delivery_count == 0


async def test_an_acknowledged_message_is_gone(broker: Broker) -> None:
    queue = broker.queue("ack", "#")
    await broker.declare(queue)
    first = Recorder()
    consumer = await consume(broker, queue, first)
    acked = broker.message("expense.created")
    assert await within(broker.transport.publish([acked])) == [CONFIRMED]
    assert (await first.next()).message_id == acked.message_id
    await within(consumer.cancel())

    later = broker.message("expense.amended")
    publishing = broker.publishing([later])
    second = Recorder()
    await consume(broker, queue, second)

    assert ids(await second.take(1)) == [later.message_id]
    await second.nothing_more()
    assert await within(publishing) == [CONFIRMED]


async def test_requeue_redelivers_with_a_growing_delivery_count(broker: Broker) -> None:
    queue = broker.queue("requeue", "#")
    await broker.declare(queue)

    async def requeue_twice(delivery: Delivery) -> None:
        if delivery.message.delivery_count < 2:
            await delivery.requeue()
        else:
            await delivery.ack()

    recorder = Recorder(requeue_twice)
    await consume(broker, queue, recorder)
    sent = broker.message("expense.created", headers={"event_type": "expense.created"})

    assert await within(broker.transport.publish([sent])) == [CONFIRMED]

    deliveries = await recorder.take(3)
    assert ids(deliveries) == [sent.message_id] * 3
    assert [(d.redelivered, d.delivery_count) for d in deliveries] == [
        (False, 0),
        (True, 1),
        (True, 2),
    ]
    assert all(
        d.body == sent.body and d.headers["event_type"] == "expense.created" for d in deliveries
    )
    await recorder.nothing_more()


async def test_a_message_requeued_past_the_delivery_limit_is_dead_lettered(broker: Broker) -> None:
    queue = broker.queue("limit", "#", delivery_limit=2)
    await broker.declare(queue)
    poison, healthy = broker.message("expense.created"), broker.message("expense.amended")

    async def reject_poison(delivery: Delivery) -> None:
        if delivery.message.message_id == poison.message_id:
            await delivery.requeue()
        else:
            await delivery.ack()

    crashing = Recorder(reject_poison)
    await consume(broker, queue, crashing)
    parked = Recorder()
    await within(broker.transport.consume(queue.dead_letter_queue, parked, prefetch=1))

    publishing = broker.publishing([poison])
    dead = await parked.next()

    # As with RabbitMQ's quorum queues, the limit counts redeliveries: the message is
    # delivered once plus ``delivery_limit`` times before the broker gives up on it.
    deliveries = await crashing.take(queue.delivery_limit + 1)
    assert [(m.message_id, m.delivery_count) for m in deliveries] == [
        (poison.message_id, count) for count in range(queue.delivery_limit + 1)
    ]
    assert dead.message_id == poison.message_id
    assert dead.body == poison.body
    assert dead.routing_key == queue.dead_letter_queue
    assert dead.headers["x-first-death-reason"] == "delivery_limit"
    assert dead.headers["x-first-death-queue"] == queue.name
    assert await within(publishing) == [CONFIRMED]

    # The queue flows on without it.
    assert await within(broker.transport.publish([healthy])) == [CONFIRMED]
    assert ids(await crashing.take(1)) == [healthy.message_id]
    await crashing.nothing_more()
    await parked.nothing_more()


async def test_a_handler_that_raises_gets_the_message_again(broker: Broker) -> None:
    queue = broker.queue("raises", "#")
    await broker.declare(queue)

    async def crash_once(delivery: Delivery) -> None:
        if not delivery.message.redelivered:
            raise RuntimeError("handler crashed")
        await delivery.ack()

    recorder = Recorder(crash_once)
    await consume(broker, queue, recorder)
    sent = broker.message("expense.created")

    assert await within(broker.transport.publish([sent])) == [CONFIRMED]

    deliveries = await recorder.take(2)
    assert ids(deliveries) == [sent.message_id] * 2
    assert [(d.redelivered, d.delivery_count) for d in deliveries] == [(False, 0), (True, 1)]
    await recorder.nothing_more()


async def test_cancel_finishes_the_message_in_hand_and_leaves_the_rest(broker: Broker) -> None:
    queue = broker.queue("cancel", "#")
    await broker.declare(queue)
    in_hand, release = asyncio.Event(), asyncio.Event()

    async def slow(delivery: Delivery) -> None:
        in_hand.set()
        await release.wait()
        await delivery.ack()

    first = Recorder(slow)
    consumer = await consume(broker, queue, first, prefetch=10)
    sent = [broker.message(f"expense.e{index}") for index in range(4)]
    publishing = broker.publishing(sent)
    await within(in_hand.wait())
    await asyncio.sleep(GRACE)  # let the broker push the others to the consumer (prefetch)

    cancelling = asyncio.create_task(consumer.cancel())
    await asyncio.sleep(GRACE)
    assert not cancelling.done(), "cancel() returned while a message was in hand"
    release.set()
    await within(cancelling)

    assert ids(first.seen) == [sent[0].message_id]
    second = Recorder()
    await consume(broker, queue, second)
    assert ids(await second.take(3)) == ids(sent[1:])
    await second.nothing_more()
    assert ids(first.seen) == [sent[0].message_id]
    assert await within(publishing) == [CONFIRMED] * 4


async def test_cancel_of_an_idle_consumer_returns_and_takes_nothing_more(broker: Broker) -> None:
    queue = broker.queue("idle", "#")
    await broker.declare(queue)
    idle = Recorder()
    consumer = await consume(broker, queue, idle)

    await within(consumer.cancel())

    sent = broker.message("expense.created")
    publishing = broker.publishing([sent])
    await asyncio.sleep(GRACE)
    assert idle.seen == []
    successor = Recorder()
    await consume(broker, queue, successor)
    assert ids(await successor.take(1)) == [sent.message_id]
    assert await within(publishing) == [CONFIRMED]
    assert idle.seen == []


async def test_competing_consumers_share_a_queue_without_duplicates(broker: Broker) -> None:
    queue = broker.queue("competing", "#")
    await broker.declare(queue)
    arrived: asyncio.Queue[InboundMessage] = asyncio.Queue()

    async def slowly(delivery: Delivery) -> None:
        await asyncio.sleep(0.005)
        await delivery.ack()
        arrived.put_nowait(delivery.message)

    recorders = Recorder(slowly), Recorder(slowly)
    for recorder in recorders:
        await consume(broker, queue, recorder, prefetch=1)
    sent = [broker.message(f"expense.e{index}") for index in range(20)]

    assert await within(broker.transport.publish(sent)) == [CONFIRMED] * 20

    got = [await within(arrived.get()) for _ in sent]
    assert sorted(ids(got)) == sorted(ids(sent))
    await asyncio.sleep(GRACE)
    assert arrived.empty()
    assert len(recorders[0].seen) + len(recorders[1].seen) == 20


async def test_a_temporary_queue_receives_the_matching_messages(broker: Broker) -> None:
    name = await within(broker.transport.temporary_queue([broker.key("expense.*")]))
    live = Recorder()
    consumer = await within(broker.transport.consume(name, live, prefetch=10))
    matching = [broker.message("expense.created"), broker.message("expense.amended")]
    other = broker.message("group.created")

    outcomes = await within(broker.transport.publish([matching[0], other, matching[1]]))

    assert outcomes == [CONFIRMED, UNROUTABLE, CONFIRMED]
    assert ids(await live.take(2)) == ids(matching)
    await live.nothing_more()

    # The queue goes away with its consumer.
    await within(consumer.cancel())

    # RabbitMQ deletes an auto-delete queue shortly after its last consumer left.
    outcomes = []
    for _ in range(50):
        outcomes = await within(broker.transport.publish([broker.message("expense.deleted")]))
        if outcomes == [UNROUTABLE]:
            break
        await asyncio.sleep(0.1)
    assert outcomes == [UNROUTABLE]


async def test_declare_is_idempotent(broker: Broker) -> None:
    queue = broker.queue("idempotent", "expense.*", "#.created")
    dead_letters = Queue(queue.name, (), delivery_limit=queue.delivery_limit)

    await broker.declare(queue)
    await broker.declare(queue)
    await broker.transport.declare(Topology())
    await broker.declare(dead_letters)  # the same queue, without bindings: changes nothing

    recorder = Recorder()
    await consume(broker, queue, recorder)
    sent = broker.message("expense.created")  # matches both patterns
    assert await within(broker.transport.publish([sent])) == [CONFIRMED]
    assert ids(await recorder.take(1)) == [sent.message_id]
    await recorder.nothing_more()


async def test_publish_after_close_fails(broker: Broker) -> None:
    queue = broker.queue("closed", "#")
    await broker.declare(queue)
    await within(broker.transport.close())

    assert not broker.transport.connected
    try:
        outcomes = await within(broker.transport.publish([broker.message("expense.created")]))
    except TransportUnavailable:
        return
    assert outcomes == [PublishOutcome.FAILED]

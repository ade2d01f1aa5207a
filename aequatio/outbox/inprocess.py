"""The in-process transport of the embedded default: RabbitMQ's topic routing, in memory.

Nothing here survives the process, so a publish is only confirmed once every durable queue it
was routed to has had it acknowledged (or dead-lettered) by its consumer. The outbox marks a
row published after that confirm; a crash before it leaves the row unpublished, to be sent
again on the next start, and the consumers skip what they already applied.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from aequatio.outbox.messages import Delivery, InboundMessage, OutboundMessage, PublishOutcome
from aequatio.outbox.topology import DEAD_LETTERS, DOMAIN_EVENTS, Topology, topic_matches
from aequatio.outbox.transport import Consumer, DeliveryHandler, Transport, join_worker

log = logging.getLogger(__name__)

#: How long a publish waits for consumers before it is reported as failed (then retried).
CONFIRM_TIMEOUT_SECONDS = 30.0


@dataclass
class _Entry:
    message: InboundMessage
    settled: asyncio.Future[None] | None


@dataclass
class _Queue:
    name: str
    #: Durable queues confirm a publish only when its consumer settled it (see module doc);
    #: temporary and dead-letter queues confirm on arrival.
    confirms_on_ack: bool
    delivery_limit: int | None = None
    dead_letter_queue: str | None = None
    temporary: bool = False
    bindings: list[tuple[str, str]] = field(default_factory=list)  # (exchange, pattern)
    ready: deque[_Entry] = field(default_factory=deque)
    available: asyncio.Event = field(default_factory=asyncio.Event)

    def put(self, entry: _Entry, *, front: bool = False) -> None:
        if front:
            self.ready.appendleft(entry)
        else:
            self.ready.append(entry)
        self.available.set()

    async def take(self, stopping: Callable[[], bool]) -> _Entry | None:
        """The next message, or ``None`` once ``stopping()`` (checked whenever woken)."""
        while not stopping():
            if self.ready:
                return self.ready.popleft()
            self.available.clear()
            await self.available.wait()
        return None


class _MemoryDelivery(Delivery):
    def __init__(self, transport: InProcessTransport, queue: _Queue, entry: _Entry) -> None:
        super().__init__(entry.message)
        self._transport = transport
        self._queue = queue
        self._entry = entry
        self.settled = False

    async def ack(self) -> None:
        if not self.settled:
            self.settled = True
            _resolve(self._entry.settled)

    async def requeue(self) -> None:
        if self.settled:
            return
        self.settled = True
        message = self._entry.message
        again = replace(message, redelivered=True, delivery_count=message.delivery_count + 1)
        limit = self._queue.delivery_limit
        dead_letter_queue = self._queue.dead_letter_queue
        # As in RabbitMQ's quorum queues the limit counts redeliveries: a message is dead-lettered
        # when it comes back more than ``limit`` times (delivered ``limit + 1`` times in all).
        if limit is not None and again.delivery_count > limit and dead_letter_queue:
            # Dead-lettered as the broker does it: under the dead-letter routing key, a fresh
            # message in its new queue, with why and from where in the headers.
            dead = InboundMessage(
                routing_key=dead_letter_queue,
                body=message.body,
                message_id=message.message_id,
                headers={
                    **message.headers,
                    "x-first-death-queue": self._queue.name,
                    "x-first-death-reason": "delivery_limit",
                },
            )
            self._transport.route_dead_letter(dead_letter_queue, dead)
            _resolve(self._entry.settled)
            return
        self._queue.put(_Entry(again, self._entry.settled), front=True)


def _resolve(future: asyncio.Future[None] | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)


class _MemoryConsumer(Consumer):
    def __init__(self, transport: InProcessTransport, queue: _Queue, handler: DeliveryHandler):
        self._transport = transport
        self.queue = queue
        self._handler = handler
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=f"consume {queue.name}")

    async def _run(self) -> None:
        while (entry := await self.queue.take(lambda: self._stopping)) is not None:
            delivery = _MemoryDelivery(self._transport, self.queue, entry)
            try:
                await self._handler(delivery)
            except Exception:
                log.exception("consumer of %s failed on a message", self.queue.name)
            finally:
                if not delivery.settled:
                    # The handler neither acked nor requeued (it crashed): give it back.
                    await delivery.requeue()

    async def cancel(self) -> None:
        self._stopping = True
        # The message in hand finishes; a waiting take() is woken and returns None.
        self.queue.available.set()
        try:
            await join_worker(self._task, f"the consumer of {self.queue.name}")
        finally:
            self._transport.release(self)


class InProcessTransport(Transport):
    def __init__(self, *, confirm_timeout: float = CONFIRM_TIMEOUT_SECONDS) -> None:
        self._queues: dict[str, _Queue] = {}
        self._exchanges: set[str] = set()
        self._consumers: list[_MemoryConsumer] = []
        self._confirm_timeout = confirm_timeout
        self._running = False
        self._ids = itertools.count(1)

    @property
    def connected(self) -> bool:
        return self._running

    @property
    def keeps_messages(self) -> bool:
        return False

    async def start(self) -> None:
        self._running = True

    async def close(self) -> None:
        for consumer in list(self._consumers):
            await consumer.cancel()
        self._running = False

    async def declare(self, topology: Topology) -> None:
        self._exchanges.update(exchange.name for exchange in topology.exchanges)
        for spec in topology.queues:
            queue = self._queues.setdefault(spec.name, _Queue(spec.name, confirms_on_ack=True))
            queue.delivery_limit = spec.delivery_limit
            queue.dead_letter_queue = spec.dead_letter_queue
            for pattern in spec.patterns:
                if (DOMAIN_EVENTS, pattern) not in queue.bindings:
                    queue.bindings.append((DOMAIN_EVENTS, pattern))
            dead = self._queues.setdefault(
                spec.dead_letter_queue, _Queue(spec.dead_letter_queue, confirms_on_ack=False)
            )
            if (DEAD_LETTERS, spec.dead_letter_queue) not in dead.bindings:
                dead.bindings.append((DEAD_LETTERS, spec.dead_letter_queue))

    def _routes(self, exchange: str, routing_key: str) -> list[_Queue]:
        direct = exchange != DOMAIN_EVENTS
        return [
            queue
            for queue in self._queues.values()
            if any(
                bound == exchange
                and (pattern == routing_key if direct else topic_matches(pattern, routing_key))
                for bound, pattern in queue.bindings
            )
        ]

    def route_dead_letter(self, dead_letter_queue: str, message: InboundMessage) -> None:
        for queue in self._routes(DEAD_LETTERS, dead_letter_queue):
            queue.put(_Entry(message, None))

    async def publish(self, messages: Sequence[OutboundMessage]) -> list[PublishOutcome]:
        if not self._running:
            return [PublishOutcome.FAILED] * len(messages)
        waits: list[list[asyncio.Future[None]] | None] = []
        for outbound in messages:
            queues = self._routes(outbound.exchange, outbound.routing_key)
            if not queues and outbound.mandatory:
                waits.append(None)
                continue
            inbound = InboundMessage(
                routing_key=outbound.routing_key,
                body=outbound.body,
                message_id=outbound.message_id,
                # Like the AMQP adapter, a header without a value is not sent at all.
                headers={
                    key: value for key, value in outbound.headers.items() if value is not None
                },
            )
            settled: list[asyncio.Future[None]] = []
            for queue in queues:
                loop = asyncio.get_running_loop()
                future = loop.create_future() if queue.confirms_on_ack else None
                if future is not None:
                    settled.append(future)
                queue.put(_Entry(inbound, future))
            waits.append(settled)
        return [await self._outcome(wait) for wait in waits]

    async def _outcome(self, settled: list[asyncio.Future[None]] | None) -> PublishOutcome:
        if settled is None:
            return PublishOutcome.UNROUTABLE
        try:
            await asyncio.wait_for(asyncio.gather(*settled), timeout=self._confirm_timeout)
        except TimeoutError:
            return PublishOutcome.FAILED
        return PublishOutcome.CONFIRMED

    async def consume(self, queue: str, handler: DeliveryHandler, *, prefetch: int) -> Consumer:
        consumer = _MemoryConsumer(self, self._queues[queue], handler)
        self._consumers.append(consumer)
        return consumer

    async def temporary_queue(self, patterns: Sequence[str]) -> str:
        name = f"amq.gen-inprocess-{next(self._ids)}"
        queue = _Queue(name, confirms_on_ack=False, temporary=True)
        queue.bindings.extend((DOMAIN_EVENTS, pattern) for pattern in patterns)
        self._queues[name] = queue
        return name

    def release(self, consumer: _MemoryConsumer) -> None:
        """Forget a cancelled consumer; a temporary queue goes with its consumer."""
        if consumer in self._consumers:
            self._consumers.remove(consumer)
        if consumer.queue.temporary:
            self._queues.pop(consumer.queue.name, None)

    def depth(self, queue: str) -> int:
        """Messages waiting in ``queue`` (for tests and metrics)."""
        return len(self._queues[queue].ready)

"""The transport port: what the dispatcher, consumers and subscriptions need of a broker.

Two adapters implement it with the same topic-routing semantics: AMQP over ``aiormq``
(production) and an in-process one (the embedded default). A shared contract suite runs
against both.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from aequatio.outbox.messages import Delivery, OutboundMessage, PublishOutcome
from aequatio.outbox.topology import Topology

DeliveryHandler = Callable[[Delivery], Awaitable[None]]
#: Settles each delivery of a batch (several handed over at once, in the order received).
BatchDeliveryHandler = Callable[[Sequence[Delivery]], Awaitable[None]]

log = logging.getLogger(__name__)

T = TypeVar("T")


def one_at_a_time(handler: DeliveryHandler) -> BatchDeliveryHandler:
    """A batch handler for a handler of single deliveries (batches of one are all it gets)."""

    async def handle(batch: Sequence[Delivery]) -> None:
        for delivery in batch:
            await handler(delivery)

    return handle


async def take_batch(inbox: asyncio.Queue[T | None], limit: int) -> list[T]:
    """The next delivery of ``inbox`` and those already waiting behind it, up to ``limit``
    (never waiting for more: a quiet queue gets batches of one, so nothing is held back);
    empty once the ``None`` that ends the inbox comes first."""
    first = await inbox.get()
    if first is None:
        return []
    batch = [first]
    while len(batch) < limit and not inbox.empty():
        following = inbox.get_nowait()
        if following is None:
            inbox.put_nowait(None)  # the end, for the next call
            break
        batch.append(following)
    return batch


async def join_worker(task: asyncio.Task[None], what: str) -> None:
    """Wait for a consumer's worker task to end; one that already died (its handler crashed
    the worker) is reported rather than re-raised into whoever stops it."""
    if task.done():
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("%s had stopped on %r", what, error)
        return
    await task


class TransportUnavailable(ConnectionError):
    """The broker cannot be reached right now; try again later."""


class Consumer(ABC):
    """A running subscription to one queue; survives reconnects until cancelled."""

    @abstractmethod
    async def cancel(self) -> None:
        """Stop taking messages; the message in hand (if any) finishes first."""


class Transport(ABC):
    @abstractmethod
    async def start(self) -> None:
        """Connect (the AMQP adapter keeps reconnecting by itself afterwards)."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def declare(self, topology: Topology) -> None:
        """Declare exchanges, queues, bindings and dead-letter queues (idempotent)."""

    @abstractmethod
    async def publish(self, messages: Sequence[OutboundMessage]) -> list[PublishOutcome]:
        """Publish in order, pipelined; one outcome per message once the broker answered."""

    @abstractmethod
    async def consume(self, queue: str, handler: DeliveryHandler, *, prefetch: int) -> Consumer:
        """Deliver messages of ``queue`` to ``handler`` (which acks or requeues each)."""

    async def consume_batches(
        self, queue: str, handler: BatchDeliveryHandler, *, prefetch: int, max_batch: int
    ) -> Consumer:
        """Like ``consume``, but hands ``handler`` the deliveries already received together,
        up to ``max_batch`` (a consumer can then apply them in one transaction). Adapters that
        cannot batch hand over one delivery at a time."""

        async def single(delivery: Delivery) -> None:
            await handler([delivery])

        return await self.consume(queue, single, prefetch=prefetch)

    @abstractmethod
    async def temporary_queue(self, patterns: Sequence[str]) -> str:
        """An exclusive, auto-deleted queue bound to ``domain.events`` (live subscriptions)."""

    @property
    @abstractmethod
    def connected(self) -> bool: ...

    @property
    def keeps_messages(self) -> bool:
        """True when queued messages outlive this process (a broker): queues may then be
        declared for consumers that run elsewhere or later."""
        return True

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

from aequatio.outbox.messages import Delivery, OutboundMessage, PublishOutcome
from aequatio.outbox.topology import Topology

DeliveryHandler = Callable[[Delivery], Awaitable[None]]

log = logging.getLogger(__name__)


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

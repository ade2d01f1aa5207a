"""The live feed of one API process: every event, fanned out to the subscriptions that want it.

Each API process consumes from its own exclusive, auto-deleted queue bound to ``#`` (so every
process gets every event for its own subscribers; the in-process transport does the same in
the embedded default). A subscription is a bounded buffer for one group and some event types;
when a client is too slow to drain it, the subscription is dropped (never the feed, never the
other clients) and its socket is closed with ``SLOW_CONSUMER``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast
from uuid import UUID

from aequatio.events.envelope import Envelope
from aequatio.observability.metrics import LIVE_SUBSCRIPTIONS
from aequatio.outbox.codec import UndecodableMessage, from_message
from aequatio.outbox.messages import Delivery
from aequatio.outbox.transport import Consumer, Transport

log = logging.getLogger(__name__)

T = TypeVar("T")

#: WebSocket close codes (4000-4999 are the application's).
SLOW_CONSUMER = 4008
TOKEN_EXPIRED = 4401


class SlowConsumer(Exception):
    """The subscriber did not keep up; its subscription was dropped."""


class _Shared:
    """One piece of shared work and the event its waiters wait on."""

    __slots__ = ("done", "task")

    def __init__(self, work: Awaitable[Any]) -> None:
        self.task = asyncio.ensure_future(work)
        self.done = asyncio.Event()
        self.task.add_done_callback(lambda _: self.done.set())


@dataclass(frozen=True, slots=True)
class Arrival:
    """An event for its subscribers, with the ``traceparent`` it was published under."""

    envelope: Envelope
    traceparent: str | None
    _shared: dict[Hashable, _Shared] = field(default_factory=dict, compare=False, repr=False)

    async def once(self, key: Hashable, work: Callable[[], Awaitable[T]]) -> T:
        """The result of ``work``, done once for all the subscribers this arrival reaches (a
        thousand subscribers of a group push one row read once and one response executed
        once, not a thousand of each); one that leaves meanwhile does not cancel it for the
        others.

        The waiters wait on an ``asyncio.Event``: one future each, woken by one call when the
        work is done (``asyncio.shield`` made two futures and two callbacks per waiter, a
        sixth of a fan-out's CPU in its profile)."""
        shared = self._shared.get(key)
        if shared is None:
            shared = self._shared[key] = _Shared(work())
        if not shared.task.done():
            await shared.done.wait()
        return cast(T, shared.task.result())


class Subscription:
    def __init__(self, group_id: UUID, event_types: Collection[str], buffer: int) -> None:
        self.group_id = group_id
        self.event_types = frozenset(event_types)
        self._queue: asyncio.Queue[Arrival | None] = asyncio.Queue(maxsize=buffer)
        self.dropped = False

    def offer(self, arrival: Arrival) -> None:
        if self.dropped:
            return
        try:
            self._queue.put_nowait(arrival)
        except asyncio.QueueFull:
            self.dropped = True
            self._queue.get_nowait()  # make room for the wake-up below
            self._queue.put_nowait(None)

    async def __aiter__(self) -> AsyncIterator[Arrival]:
        while True:
            arrival = await self._queue.get()
            if arrival is None:
                raise SlowConsumer(f"dropped after {self._queue.maxsize} undelivered events")
            yield arrival


def group_of(envelope: Envelope) -> UUID | None:
    """The group an event concerns (events of users concern none)."""
    raw = envelope.payload.get("group_id")
    if raw is None and envelope.aggregate_type == "group":
        return envelope.aggregate_id
    try:
        return UUID(str(raw)) if raw is not None else None
    except ValueError:
        return None


class LiveFeed:
    def __init__(self, transport: Transport, *, buffer: int = 256) -> None:
        self._transport = transport
        self._buffer = buffer
        self._subscriptions: dict[UUID, set[Subscription]] = defaultdict(set)
        self._consumer: Consumer | None = None
        self.queue: str | None = None

    async def start(self) -> None:
        self.queue = await self._transport.temporary_queue(["#"])
        self._consumer = await self._transport.consume(self.queue, self._deliver, prefetch=256)

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.cancel()
            self._consumer = None

    @property
    def subscriber_count(self) -> int:
        return sum(len(group) for group in self._subscriptions.values())

    async def _deliver(self, delivery: Delivery) -> None:
        try:
            envelope = from_message(delivery.message)
        except UndecodableMessage:
            await delivery.ack()  # nothing to push; the durable consumers deal with poison
            return
        group = group_of(envelope)
        traceparent = delivery.message.headers.get("traceparent")
        arrival = Arrival(envelope, traceparent if isinstance(traceparent, str) else None)
        for subscription in list(self._subscriptions.get(group, ())) if group else ():
            if envelope.event_type in subscription.event_types:
                subscription.offer(arrival)
        await delivery.ack()

    @asynccontextmanager
    async def subscribe(
        self, group_id: UUID, event_types: Collection[str]
    ) -> AsyncIterator[Subscription]:
        subscription = Subscription(group_id, event_types, self._buffer)
        self._subscriptions[group_id].add(subscription)
        LIVE_SUBSCRIPTIONS.inc()
        try:
            yield subscription
        finally:
            LIVE_SUBSCRIPTIONS.dec()
            subscribers = self._subscriptions[group_id]
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscriptions[group_id]

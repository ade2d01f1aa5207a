"""Running one consumer queue: decode, handle with retries, ack after commit, dead-letter poison.

The handler applies an event's effect (and its tracking row) in one transaction; the delivery is
acked only after that commit. Failures are retried with exponential backoff while the message
stays in hand, so later messages never overtake it:

* transient failures (database or broker unreachable, deadlocks) are retried until they pass
  or the consumer is stopped — an outage never dead-letters healthy messages;
* any other failure is retried ``attempts`` times, then the message is published to
  ``<queue>.dlq`` with the error in its headers and acked, so the messages behind it flow on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aequatio.events.envelope import Envelope
from aequatio.outbox.codec import UndecodableMessage, from_message
from aequatio.outbox.messages import Delivery, OutboundMessage, PublishOutcome
from aequatio.outbox.topology import DEAD_LETTERS, Queue
from aequatio.outbox.transport import Consumer, Transport, TransportUnavailable

log = logging.getLogger(__name__)

EnvelopeHandler = Callable[[Envelope], Awaitable[None]]
ErrorClassifier = Callable[[BaseException], bool]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5
    initial_delay: float = 0.05
    max_delay: float = 5.0

    def delay(self, attempt: int) -> float:
        return float(min(self.initial_delay * 2**attempt, self.max_delay))


class ConsumerLoop:
    def __init__(
        self,
        transport: Transport,
        queue: Queue,
        handler: EnvelopeHandler,
        *,
        is_transient: ErrorClassifier,
        retry: RetryPolicy | None = None,
        prefetch: int = 32,
    ) -> None:
        self._transport = transport
        self._queue = queue
        self._handler = handler
        self._is_transient = is_transient
        self._retry = retry or RetryPolicy()
        self._prefetch = prefetch
        self._consumer: Consumer | None = None
        self._stopping = False

    async def start(self) -> None:
        self._consumer = await self._transport.consume(
            self._queue.name, self._on_delivery, prefetch=self._prefetch
        )

    async def stop(self) -> None:
        """Finish the message in hand, then stop; unfinished ones go back to the queue."""
        self._stopping = True
        if self._consumer is not None:
            await self._consumer.cancel()

    async def _on_delivery(self, delivery: Delivery) -> None:
        try:
            envelope = from_message(delivery.message)
        except UndecodableMessage as error:
            await self._dead_letter(delivery, error, attempts=1)
            return
        attempt = 0
        failures = 0
        while True:
            try:
                await self._handler(envelope)
            except Exception as error:
                if self._stopping:
                    await delivery.requeue()
                    return
                if not self._is_transient(error):
                    failures += 1
                    if failures >= self._retry.attempts:
                        log.error(
                            "giving up on event %s in %s: %r",
                            envelope.event_id,
                            self._queue.name,
                            error,
                        )
                        await self._dead_letter(delivery, error, attempts=failures)
                        return
                log.warning(
                    "event %s failed in %s (attempt %d): %r",
                    envelope.event_id,
                    self._queue.name,
                    attempt + 1,
                    error,
                )
                await asyncio.sleep(self._retry.delay(attempt))
                attempt += 1
                continue
            await delivery.ack()
            return

    async def _dead_letter(
        self, delivery: Delivery, error: BaseException, *, attempts: int
    ) -> None:
        """Park the message in ``<queue>.dlq`` with what went wrong; ack only once it is there."""
        message = delivery.message
        parked = OutboundMessage(
            exchange=DEAD_LETTERS,
            routing_key=self._queue.dead_letter_queue,
            body=message.body,
            message_id=message.message_id,
            headers={
                **message.headers,
                "x-error": str(error)[:1000] or type(error).__name__,
                "x-error-type": type(error).__name__,
                "x-attempts": attempts,
                "x-original-queue": self._queue.name,
                "x-original-routing-key": message.routing_key,
            },
        )
        try:
            [outcome] = await self._transport.publish([parked])
        except TransportUnavailable:
            outcome = PublishOutcome.FAILED
        if outcome is PublishOutcome.CONFIRMED:
            await delivery.ack()
        else:
            await delivery.requeue()

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
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from opentelemetry.trace import SpanKind

from aequatio.events.envelope import Envelope
from aequatio.observability.logging import log_context
from aequatio.observability.metrics import (
    CONSUME_SECONDS,
    CONSUMERS,
    EVENT_LAG_SECONDS,
    EVENTS_CONSUMED,
    EVENTS_DEAD_LETTERED,
)
from aequatio.observability.tracing import span
from aequatio.outbox.codec import UndecodableMessage, from_message
from aequatio.outbox.messages import Delivery, OutboundMessage, PublishOutcome
from aequatio.outbox.topology import DEAD_LETTERS, Queue
from aequatio.outbox.transport import Consumer, Transport, TransportUnavailable

log = logging.getLogger(__name__)

#: Applies one event; returns False for a duplicate it skipped (``None`` counts as applied).
EnvelopeHandler = Callable[[Envelope], Awaitable[bool | None]]
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
        CONSUMERS.labels(self._queue.name).inc()

    async def stop(self) -> None:
        """Finish the message in hand, then stop; unfinished ones go back to the queue."""
        self._stopping = True
        if self._consumer is not None:
            await self._consumer.cancel()
            self._consumer = None
            CONSUMERS.labels(self._queue.name).dec()

    async def _on_delivery(self, delivery: Delivery) -> None:
        started = time.perf_counter()
        message = delivery.message
        parent = message.headers.get("traceparent")
        with (
            span(
                f"consume {self._queue.name}",
                parent=parent if isinstance(parent, str) else None,
                kind=SpanKind.CONSUMER,
                attributes={"messaging.message.id": message.message_id},
            ) as current,
            log_context(event_id=message.message_id, consumer=self._queue.name),
        ):
            outcome = await self._handle(delivery)
            current.set_attribute("aequatio.outcome", outcome)
        EVENTS_CONSUMED.labels(self._queue.name, outcome).inc()
        CONSUME_SECONDS.labels(self._queue.name).observe(time.perf_counter() - started)

    async def _handle(self, delivery: Delivery) -> str:
        """Carry one message to its end; returns the outcome (for metrics and the span)."""
        try:
            envelope = from_message(delivery.message)
        except UndecodableMessage as error:
            return await self._dead_letter(delivery, error, attempts=1)
        attempt = 0
        failures = 0
        with log_context(event_type=envelope.event_type, correlation_id=envelope.correlation_id):
            while True:
                try:
                    applied = await self._handler(envelope)
                except Exception as error:
                    if self._stopping:
                        await delivery.requeue()
                        return "requeued"
                    if not self._is_transient(error):
                        failures += 1
                        if failures >= self._retry.attempts:
                            log.error("giving up on the event in %s: %r", self._queue.name, error)
                            return await self._dead_letter(delivery, error, attempts=failures)
                    log.warning(
                        "the event failed in %s (attempt %d): %r",
                        self._queue.name,
                        attempt + 1,
                        error,
                    )
                    await asyncio.sleep(self._retry.delay(attempt))
                    attempt += 1
                    continue
                await delivery.ack()
                log.debug(
                    "%s %s",
                    "skipped duplicate" if applied is False else "applied",
                    envelope.event_type,
                )
                if applied is False:
                    return "duplicate"
                lag = (datetime.now(UTC) - envelope.occurred_at).total_seconds()
                EVENT_LAG_SECONDS.labels(self._queue.name).observe(max(lag, 0.0))
                return "applied"

    async def _dead_letter(self, delivery: Delivery, error: BaseException, *, attempts: int) -> str:
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
            EVENTS_DEAD_LETTERED.labels(self._queue.name).inc()
            return "dead_lettered"
        await delivery.requeue()
        return "requeued"

"""The outbox dispatcher: publishes committed events to the broker, never losing one.

* **One active dispatcher.** Each instance tries to take a session-level advisory lock on a
  dedicated connection; the holder dispatches, the others stand by and retry every
  ``standby_interval`` — when the holder dies its connection closes, the lock goes with it,
  and a standby takes over within seconds.
* **Woken by NOTIFY.** The holder LISTENs on the outbox channel (a trigger notifies on every
  commit that wrote outbox rows) and also polls every ``poll_interval`` as a fallback.
* **In order, confirmed.** Unpublished rows are read in position order (an event committed
  late still has no ``published_at``, so it is never skipped), published persistent and
  mandatory, pipelined in batches in that order, and marked published only after the broker
  confirmed them. An unroutable or refused message stays unpublished, is counted, and is
  retried with exponential backoff per row. A crash between publish and mark publishes the
  event again; consumers deduplicate on the event id.
* **Backoff while the broker is down**, reconnecting through the transport.
* **Pruning.** Published rows older than ``retention`` are deleted (the event store keeps the
  events), so the outbox stays small.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from opentelemetry.trace import Span, SpanKind
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from aequatio.events.registry import EventRegistry
from aequatio.observability.metrics import DISPATCHER_LEADER, EVENTS_PUBLISHED
from aequatio.observability.tracing import start_span, traceparent_of
from aequatio.outbox.codec import to_message
from aequatio.outbox.messages import OutboundMessage, PublishOutcome
from aequatio.outbox.transport import Transport, TransportUnavailable
from aequatio.persistence.event_store import envelope_of
from aequatio.persistence.tables import OUTBOX_CHANNEL, events_outbox, events_store

log = logging.getLogger(__name__)

LOCK_KEY = zlib.crc32(b"aequatio:outbox-dispatcher")


@dataclass(frozen=True, slots=True)
class DispatcherSettings:
    batch_size: int = 500
    poll_interval: float = 1.0
    standby_interval: float = 1.0
    retention: timedelta = timedelta(hours=1)
    prune_every: float = 60.0
    backoff_initial: float = 0.2
    backoff_max: float = 10.0
    #: Per-row retry delay after an unroutable or refused publish: ``base * 2**attempts``.
    row_retry_base: timedelta = timedelta(seconds=1)
    row_retry_max: timedelta = timedelta(minutes=5)


def _traced(message: OutboundMessage, published: Span) -> OutboundMessage:
    """The message carries its publish span as ``traceparent`` (the consumer's parent)."""
    traceparent = traceparent_of(published)
    if traceparent is None:
        return message
    return replace(message, headers={**message.headers, "traceparent": traceparent})


class OutboxDispatcher:
    def __init__(
        self,
        engine: AsyncEngine,
        transport: Transport,
        registry: EventRegistry,
        settings: DispatcherSettings | None = None,
    ) -> None:
        self._engine = engine
        self._transport = transport
        self._registry = registry
        self.settings = settings or DispatcherSettings()
        self.counts: Counter[str] = Counter()
        self.is_leader = False
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        """Contend for leadership and dispatch while leader, until ``stop()``."""
        while not self._stopping.is_set():
            try:
                async with self._engine.connect() as leadership:
                    try:
                        if await self._try_lead(leadership):
                            await self._lead(leadership)
                    finally:
                        # A session lock survives in a pooled connection: close this one
                        # instead of handing the lock back to the pool.
                        await leadership.invalidate()
            except Exception as error:
                if self._stopping.is_set():
                    break
                log.warning("dispatcher lost its database connection: %r", error)
            finally:
                self.is_leader = False
            await self._sleep(self.settings.standby_interval)

    async def stop(self) -> None:
        """Finish the batch in hand, then stop (the lock is released with the connection)."""
        self._stopping.set()
        self._wake.set()

    async def _try_lead(self, connection: AsyncConnection) -> bool:
        acquired = (
            await connection.execute(select(func.pg_try_advisory_lock(LOCK_KEY)))
        ).scalar_one()
        await connection.commit()
        return bool(acquired)

    async def _lead(self, leadership: AsyncConnection) -> None:
        self.is_leader = True
        DISPATCHER_LEADER.set(1)
        log.info("outbox dispatcher is active")
        raw: Any = (await leadership.get_raw_connection()).driver_connection

        def on_notify(*_: object) -> None:
            self._wake.set()

        await raw.add_listener(OUTBOX_CHANNEL, on_notify)
        loop = asyncio.get_running_loop()
        next_prune = loop.time()
        backoff = self.settings.backoff_initial
        try:
            while not self._stopping.is_set():
                if raw.is_closed():
                    raise ConnectionError("the leadership connection closed")
                self._wake.clear()
                try:
                    sent = await self.dispatch_once()
                except (TransportUnavailable, OSError) as error:
                    log.warning("broker unavailable (%r); retrying in %.1fs", error, backoff)
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, self.settings.backoff_max)
                    continue
                backoff = self.settings.backoff_initial
                if loop.time() >= next_prune:
                    await self.prune()
                    next_prune = loop.time() + self.settings.prune_every
                if sent < self.settings.batch_size:
                    await self._wait_for_work()
        finally:
            DISPATCHER_LEADER.set(0)
            with contextlib.suppress(Exception):
                await raw.remove_listener(OUTBOX_CHANNEL, on_notify)

    async def _wait_for_work(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=self.settings.poll_interval)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    async def dispatch_once(self) -> int:
        """Publish one batch of due rows; returns how many rows it attempted."""
        async with self._engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(events_store)
                    .join(events_outbox, events_outbox.c.position == events_store.c.position)
                    .where(
                        events_outbox.c.published_at.is_(None),
                        (events_outbox.c.next_attempt_at.is_(None))
                        | (events_outbox.c.next_attempt_at <= func.now()),
                    )
                    .order_by(events_outbox.c.position)
                    .limit(self.settings.batch_size)
                )
            ).all()
            await connection.commit()
        if not rows:
            return 0
        envelopes = [envelope_of(row) for row in rows]
        spans = [
            start_span(
                f"publish {self._registry.routing_key(envelope.event_type)}",
                parent=envelope.traceparent,
                kind=SpanKind.PRODUCER,
                attributes={"messaging.message.id": str(envelope.event_id)},
            )
            for envelope in envelopes
        ]
        messages = [
            _traced(to_message(envelope, self._registry), published)
            for envelope, published in zip(envelopes, spans, strict=True)
        ]
        try:
            outcomes = await self._transport.publish(messages)
        finally:
            for published in spans:
                published.end()
        results = list(zip((row.position for row in rows), outcomes, strict=True))
        confirmed = [position for position, o in results if o is PublishOutcome.CONFIRMED]
        refused = [(position, o) for position, o in results if o is not PublishOutcome.CONFIRMED]
        await self._record(confirmed, refused)
        return len(rows)

    async def _record(
        self, confirmed: Sequence[int], refused: Sequence[tuple[int, PublishOutcome]]
    ) -> None:
        async with self._engine.begin() as connection:
            if confirmed:
                await connection.execute(
                    update(events_outbox)
                    .where(events_outbox.c.position.in_(confirmed))
                    .values(
                        published_at=func.now(),
                        attempts=events_outbox.c.attempts + 1,
                        last_error=None,
                        next_attempt_at=None,
                    )
                )
            base = self.settings.row_retry_base.total_seconds()
            cap = self.settings.row_retry_max.total_seconds()
            attempts = events_outbox.c.attempts
            for position, outcome in refused:
                await connection.execute(
                    update(events_outbox)
                    .where(events_outbox.c.position == position)
                    .values(
                        attempts=events_outbox.c.attempts + 1,
                        last_error=outcome.value,
                        next_attempt_at=func.now()
                        + func.make_interval(
                            0, 0, 0, 0, 0, 0, func.least(base * func.power(2, attempts), cap)
                        ),
                    )
                )
        self.counts["published"] += len(confirmed)
        EVENTS_PUBLISHED.labels(PublishOutcome.CONFIRMED.value).inc(len(confirmed))
        for position, outcome in refused:
            self.counts[outcome.value] += 1
            EVENTS_PUBLISHED.labels(outcome.value).inc()
            log.warning("event at %s was %s; it stays in the outbox", position, outcome.value)

    async def prune(self) -> int:
        """Delete published rows older than the retention period."""
        async with self._engine.begin() as connection:
            result = await connection.execute(
                delete(events_outbox).where(
                    events_outbox.c.published_at < func.now() - self.settings.retention
                )
            )
        return int(result.rowcount or 0)

    async def pending(self) -> tuple[int, float | None]:
        """Unpublished rows and the age in seconds of the oldest (the dispatcher's lag)."""
        async with self._engine.connect() as connection:
            row = (
                await connection.execute(
                    text(
                        "SELECT count(*), extract(epoch FROM now() - min(s.recorded_at)) "
                        "FROM events_outbox o JOIN events_store s USING (position) "
                        "WHERE o.published_at IS NULL"
                    )
                )
            ).one()
        return int(row[0]), (float(row[1]) if row[1] is not None else None)

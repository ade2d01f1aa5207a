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
* **Pipelined batches.** While a backlog drains, up to ``PIPELINE_DEPTH`` batches are in
  flight: batch N+1 is claimed, validated, traced and handed to the transport while batch
  N's confirms are still outstanding. Every claim rescans from the oldest due row, leaving
  out only the positions of the batches in flight (so a row is never claimed twice, and a
  row committed late with a lower position is still picked up by the next claim); batches
  are handed to the transport in claim order, and the transport writes them in the order
  of its calls, so publishes follow the outbox order within and across batches. Each batch
  is marked (its confirmed rows published, its refused rows backed off) once its own
  confirms arrived, before the claim that no longer leaves it out. A batch that fails stops
  the pipeline: the batches behind it are abandoned unmarked, to be published again.
* **Backoff while the broker is down**, reconnecting through the transport.
* **Pruning.** Published rows older than ``retention`` are deleted (the event store keeps the
  events), so the outbox stays small.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import zlib
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from opentelemetry.trace import Span, SpanKind
from sqlalchemy import BigInteger, Float, Text, bindparam, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from aequatio.events.registry import EventRegistry
from aequatio.observability.metrics import DISPATCHER_LEADER, EVENTS_PUBLISHED
from aequatio.observability.tracing import start_span, traceparent_of
from aequatio.outbox.codec import to_message
from aequatio.outbox.messages import OutboundMessage, PublishOutcome
from aequatio.outbox.transport import Transport, TransportUnavailable
from aequatio.persistence.driver import DriverSql, DriverStatement
from aequatio.persistence.event_store import ROW_JSON, envelope_of_json
from aequatio.persistence.tables import OUTBOX_CHANNEL, events_outbox, events_store

log = logging.getLogger(__name__)

LOCK_KEY = zlib.crc32(b"aequatio:outbox-dispatcher")
#: Batches in flight at once: one whose confirms are awaited, the next already published.
PIPELINE_DEPTH = 2

#: The positions due, oldest first, but for those in flight (``in_flight``, possibly empty).
_DUE = (
    select(events_outbox.c.position)
    .where(
        events_outbox.c.published_at.is_(None),
        (events_outbox.c.next_attempt_at.is_(None))
        | (events_outbox.c.next_attempt_at <= func.now()),
        # ``NOT IN (SELECT unnest(...))``: a hashed subplan, one lookup per row scanned. The
        # first form, ``<> ALL(array)``, compared each row with every position in flight:
        # 51 ms per claim at 1,000 in flight, against 2 ms (EXPLAIN ANALYZE, 100,000 rows).
        events_outbox.c.position.not_in(
            select(func.unnest(bindparam("in_flight", type_=ARRAY(BigInteger))))
        ),
    )
    .order_by(events_outbox.c.position)
    .limit(bindparam("batch_size"))
    .subquery("due")
)
#: One batch of due rows, each with its event as ``row_json``. The batch is chosen first, then
#: each of its events is looked up by position (a correlated subquery, which the planner runs
#: once per row and cannot turn into a join): a join let it merge-join the outbox with the
#: event store, reading the store from its first event (3,500 rows for a batch of 500 after
#: 3,000 published events), or, with no statistics, join and serialize the whole backlog.
CLAIM = select(
    _DUE.c.position,
    select(ROW_JSON)
    .where(events_store.c.position == _DUE.c.position)
    .scalar_subquery()
    .label("row_json"),
).order_by(_DUE.c.position)
#: Run in the claim's transaction, before it: the batch's order must come from the partial
#: index, walked from its oldest entry and left after one batch, never from a sort of every
#: due row. The planner otherwise sorts a bitmap scan of the whole backlog before the outbox's
#: first analyze (15 ms a claim at 100,000 unpublished and growing with it, against 2-3 ms),
#: and a sequential scan of a small, freshly vacuumed outbox (tests/integration/outbox/
#: test_claim_plan.py; EXPLAIN ANALYZE).
CLAIM_PLANNING = text("SET LOCAL enable_sort = off")

# Sent straight to the driver (``DriverSql``): a batch of one event, as a quiet outbox gets,
# made seven statements through SQLAlchemy's execution (the claim's three, the mark's, their
# BEGINs and COMMITs) at about 160 µs of CPU each, the dispatcher's largest cost per event.
_PLAN_CLAIM = DriverStatement(CLAIM_PLANNING)
_CLAIM = DriverStatement(CLAIM)
_MARK_PUBLISHED = DriverStatement(
    update(events_outbox)
    .where(events_outbox.c.position == func.any(bindparam("confirmed", type_=ARRAY(BigInteger))))
    .values(
        published_at=func.now(),
        attempts=events_outbox.c.attempts + 1,
        last_error=None,
        next_attempt_at=None,
    )
)
#: A refused row waits ``base * 2**attempts`` seconds (at most ``cap``) before its next try.
_BACK_OFF = DriverStatement(
    update(events_outbox)
    .where(events_outbox.c.position == bindparam("refused"))
    .values(
        attempts=events_outbox.c.attempts + 1,
        last_error=bindparam("outcome", type_=Text),
        next_attempt_at=func.now()
        + func.make_interval(
            0,
            0,
            0,
            0,
            0,
            0,
            func.least(
                bindparam("base", type_=Float) * func.power(2, events_outbox.c.attempts),
                bindparam("cap", type_=Float),
            ),
        ),
    )
)


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


@dataclass(slots=True, eq=False)
class _Batch:
    """Claimed rows on their way, with the publish span of each."""

    positions: list[int]
    spans: list[Span]
    #: The spans were ended (after the confirms, or when the batch was abandoned).
    ended: bool = False

    def end_spans(self) -> None:
        if not self.ended:
            self.ended = True
            for published in self.spans:
                published.end()


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
                    # Until pruning is due: then the pipeline drains and the loop prunes.
                    _, full = await self._dispatch(until=next_prune)
                except (TransportUnavailable, OSError) as error:
                    log.warning("broker unavailable (%r); retrying in %.1fs", error, backoff)
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, self.settings.backoff_max)
                    continue
                backoff = self.settings.backoff_initial
                if loop.time() >= next_prune:
                    await self.prune()
                    next_prune = loop.time() + self.settings.prune_every
                if not full:
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
        """Publish one batch of due rows and mark it; returns how many rows it attempted."""
        attempted, _ = await self._dispatch(batches=1)
        return attempted

    async def _dispatch(
        self, *, until: float = math.inf, batches: float = math.inf
    ) -> tuple[int, bool]:
        """Publish due rows, pipelined, until a claim comes back short (nothing more is due),
        ``batches`` were claimed, the dispatcher stops or the loop time ``until`` passes;
        every batch in flight is marked before it returns. Returns how many rows it attempted
        and whether the last claim was full (more may be due)."""
        loop = asyncio.get_running_loop()
        in_flight: deque[tuple[_Batch, asyncio.Task[None]]] = deque()
        claims = attempted = 0
        full = True
        try:
            while True:
                if (
                    full
                    and len(in_flight) < PIPELINE_DEPTH
                    and claims < batches
                    and not self._stopping.is_set()
                    and loop.time() < until
                ):
                    rows = await self._claim([p for batch, _ in in_flight for p in batch.positions])
                    claims += 1
                    full = len(rows) >= self.settings.batch_size
                    if rows:
                        in_flight.append(self._start(rows))
                        attempted += len(rows)
                        continue
                if not in_flight:
                    return attempted, full
                # The oldest batch is published and marked (or raises): the next claim need
                # no longer leave its rows out.
                await in_flight[0][1]
                in_flight.popleft()
        finally:
            # Only after an error: the batches still in flight are abandoned, unmarked.
            for _, task in in_flight:
                task.cancel()
            for batch, task in in_flight:
                with contextlib.suppress(BaseException):
                    await task
                batch.end_spans()

    async def _claim(self, in_flight: list[int]) -> list[Any]:
        async with self._engine.connect() as connection:
            await connection.begin()
            sql = DriverSql(connection)
            await sql.execute(_PLAN_CLAIM)
            rows = await sql.rows(
                _CLAIM, {"in_flight": in_flight, "batch_size": self.settings.batch_size}
            )
            await connection.commit()
        return rows

    def _start(self, rows: Sequence[Any]) -> tuple[_Batch, asyncio.Task[None]]:
        """Validate and trace the rows, and start publishing them, then marking them.

        The transport is called from the task's first step, without a suspension before it:
        batches started in order reach the transport in that order."""
        envelopes = [envelope_of_json(row.row_json) for row in rows]
        spans = [
            start_span(
                f"publish {self._registry.routing_key(envelope.event_type)}",
                parent=envelope.traceparent,
                kind=SpanKind.PRODUCER,
                attributes={"messaging.message.id": str(envelope.event_id)},
            )
            for envelope in envelopes
        ]
        batch = _Batch([row.position for row in rows], spans)
        try:
            messages = [
                _traced(to_message(envelope, self._registry), published)
                for envelope, published in zip(envelopes, spans, strict=True)
            ]
        except BaseException:
            batch.end_spans()
            raise
        return batch, asyncio.create_task(self._publish(batch, messages))

    async def _publish(self, batch: _Batch, messages: list[OutboundMessage]) -> None:
        try:
            outcomes = await self._transport.publish(messages)
        finally:
            batch.end_spans()
        results = list(zip(batch.positions, outcomes, strict=True))
        confirmed = [position for position, o in results if o is PublishOutcome.CONFIRMED]
        refused = [(position, o) for position, o in results if o is not PublishOutcome.CONFIRMED]
        await self._record(confirmed, refused)

    async def _record(
        self, confirmed: Sequence[int], refused: Sequence[tuple[int, PublishOutcome]]
    ) -> None:
        async with self._engine.begin() as connection:
            sql = DriverSql(connection)
            if confirmed:
                # One array parameter, whatever the batch size (``IN`` renders one each).
                await sql.execute(_MARK_PUBLISHED, {"confirmed": list(confirmed)})
            retry = {
                "base": self.settings.row_retry_base.total_seconds(),
                "cap": self.settings.row_retry_max.total_seconds(),
            }
            for position, outcome in refused:
                await sql.execute(
                    _BACK_OFF, {"refused": position, "outcome": outcome.value, **retry}
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

"""Applying events to a consumer exactly once, in per-aggregate order.

In one transaction, for a batch of events (often just one): their tracking rows
``(consumer, event_id)`` (a conflict means a duplicate: skip), the streams of their aggregates
locked, missing earlier versions read from the event store and applied first (a gap is filled,
never skipped), the events applied in the order given, the stream positions moved. A live
applier holds a shared advisory lock on its projection for the transaction, so a replay's swap
(which takes it exclusively) never races a live write.
"""

from __future__ import annotations

import zlib
from collections.abc import Awaitable, Callable, Sequence
from uuid import UUID

from opentelemetry import trace
from opentelemetry.trace import Span
from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from aequatio.events.base import EventPayload
from aequatio.events.envelope import Envelope
from aequatio.events.registry import EventRegistry
from aequatio.observability.tracing import TRACER, span
from aequatio.persistence.driver import DriverSql, DriverStatement
from aequatio.persistence.event_store import envelope_of
from aequatio.persistence.tables import events_store
from aequatio.projections.base import Projection
from aequatio.projections.tracking import Tracked, advance, track


class EventNotStored(LookupError):
    """A message names an event this database never stored (poison, or the wrong broker)."""


class GapNotFilled(RuntimeError):
    """Earlier events of the aggregate are not in the event store (yet); retry later."""


def projection_lock_key(projection: Projection) -> int:
    """A stable 32-bit key for the projection's advisory lock."""
    return zlib.crc32(f"aequatio:{projection.consumer}".encode())


#: What a consumer does with one event, inside the tracking transaction.
Effect = Callable[[AsyncConnection, Envelope, EventPayload], Awaitable[None]]
#: What a consumer does with the events a batch lets through, in order (the same transaction).
BatchEffect = Callable[[AsyncConnection, Sequence[tuple[Envelope, EventPayload]]], Awaitable[None]]


def each(effect: Effect) -> BatchEffect:
    """A batch effect running ``effect`` for one event after the other."""

    async def apply(
        connection: AsyncConnection, items: Sequence[tuple[Envelope, EventPayload]]
    ) -> None:
        for envelope, payload in items:
            await effect(connection, envelope, payload)

    return apply


_SHARED_LOCK = DriverStatement(select(func.pg_advisory_xact_lock_shared(bindparam("key"))))
_MISSING = (
    select(events_store)
    .where(
        events_store.c.aggregate_id == bindparam("aggregate_id"),
        events_store.c.aggregate_version > bindparam("applied"),
        events_store.c.aggregate_version < bindparam("version"),
    )
    .order_by(events_store.c.aggregate_version)
)


async def apply_event(
    connection: AsyncConnection,
    projection: Projection,
    envelope: Envelope,
    registry: EventRegistry,
    *,
    position: int | None = None,
) -> bool:
    """Apply ``envelope`` (and any missing predecessors) to a projection once."""
    [applied] = await apply_all(
        connection,
        projection.consumer,
        [envelope],
        registry,
        projection.apply_many,
        positions=[position],
    )
    return applied


async def apply_once(
    connection: AsyncConnection,
    consumer: str,
    envelope: Envelope,
    registry: EventRegistry,
    effect: Effect,
    *,
    position: int | None = None,
) -> bool:
    """Run ``effect`` for ``envelope`` (and any missing predecessors of its aggregate) once, in
    version order; False if it was a duplicate. Projections and sagas both consume this way."""
    [applied] = await apply_all(
        connection, consumer, [envelope], registry, each(effect), positions=[position]
    )
    return applied


async def apply_all(
    connection: AsyncConnection,
    consumer: str,
    envelopes: Sequence[Envelope],
    registry: EventRegistry,
    effect: BatchEffect,
    *,
    positions: Sequence[int | None] | None = None,
    payloads: Sequence[EventPayload] | None = None,
) -> list[bool]:
    """``apply_once`` for each of ``envelopes`` in turn, in the caller's one transaction, with
    the tracking done for all of them at once; per envelope, False if it was a duplicate.

    The tracking decides first which events apply, and in which order (gaps filled from the
    event store); ``effect`` then gets all of them at once, so a projection can fold a whole
    batch into a few statements. ``payloads`` are the envelopes' payloads when the caller
    validated them already (``registry.payload_of`` of each, as a replay decodes a page ahead);
    otherwise they are validated here."""
    return await _Batch(connection, consumer, envelopes, registry, effect).run(positions, payloads)


class _Batch:
    """One transaction's worth of events for one consumer."""

    def __init__(
        self,
        connection: AsyncConnection,
        consumer: str,
        envelopes: Sequence[Envelope],
        registry: EventRegistry,
        effect: BatchEffect,
    ) -> None:
        self._connection = connection
        self._consumer = consumer
        self._envelopes = envelopes
        self._registry = registry
        self._effect = effect
        self.applied = [False] * len(envelopes)
        #: Fresh events of the batch not applied yet, by id: a gap may be filled with them.
        self._waiting: dict[UUID, int] = {}
        #: The version each locked aggregate stands at, as the batch moves it.
        self._versions: dict[UUID, int] = {}
        self._moved: dict[UUID, int] = {}
        #: The events to apply, in the order they apply (the effect runs once, at the end).
        self._due: list[tuple[Envelope, EventPayload]] = []

    async def run(
        self,
        positions: Sequence[int | None] | None,
        validated: Sequence[EventPayload] | None = None,
    ) -> list[bool]:
        # An unknown or invalid event fails here (or where the caller validated it), before
        # anything is written.
        if validated is not None:
            if len(validated) != len(self._envelopes):
                raise ValueError("one payload per envelope")
            payloads = list(validated)
        else:
            payloads = [self._registry.payload_of(envelope) for envelope in self._envelopes]
        first: dict[UUID, int] = {}
        distinct = [
            index
            for index, envelope in enumerate(self._envelopes)
            if first.setdefault(envelope.event_id, index) == index
        ]
        tracked = await track(
            self._connection,
            self._consumer,
            [self._envelopes[index] for index in distinct],
            [positions[index] for index in distinct] if positions is not None else None,
        )
        for index, row in zip(distinct, tracked, strict=True):
            self._note(index, row)
        for index in distinct:
            if self._waiting.pop(self._envelopes[index].event_id, None) is not None:
                await self._apply_in_order(index, payloads[index])
        if self._due:
            await self._effect(self._connection, self._due)
        await advance(self._connection, self._consumer, self._moved)
        return self.applied

    def _note(self, index: int, row: Tracked) -> None:
        envelope = self._envelopes[index]
        if row.position is None:
            raise EventNotStored(f"event {envelope.event_id} is not in this event store")
        if row.fresh:
            self._waiting[envelope.event_id] = index
            if row.applied is not None:
                self._versions.setdefault(envelope.aggregate_id, row.applied)

    async def _apply_in_order(self, index: int, payload: EventPayload) -> None:
        envelope = self._envelopes[index]
        applied = self._versions[envelope.aggregate_id]
        if envelope.aggregate_version <= applied:
            return  # an earlier transaction (or a gap filled here) applied it already
        if envelope.aggregate_version > applied + 1:
            await self._fill_gap(envelope, applied)
        self._due.append((envelope, payload))
        self._applied(index, envelope)

    def _applied(self, index: int, envelope: Envelope) -> None:
        self.applied[index] = True
        self._versions[envelope.aggregate_id] = envelope.aggregate_version
        self._moved[envelope.aggregate_id] = envelope.aggregate_version

    async def _fill_gap(self, envelope: Envelope, applied: int) -> None:
        rows = (
            await self._connection.execute(
                _MISSING,
                {
                    "aggregate_id": envelope.aggregate_id,
                    "applied": applied,
                    "version": envelope.aggregate_version,
                },
            )
        ).all()
        if len(rows) != envelope.aggregate_version - applied - 1:
            wanted = f"{applied + 1}..{envelope.aggregate_version - 1}"
            raise GapNotFilled(
                f"{envelope.aggregate_id}: versions {wanted} are not all in the event store"
            )
        for row in rows:
            missing = envelope_of(row)
            index = self._waiting.pop(missing.event_id, None)
            if index is not None:
                # Later in this very batch: apply its own delivery now, in version order.
                missing = self._envelopes[index]
            elif not (await track(self._connection, self._consumer, [missing], [row.position]))[
                0
            ].fresh:
                continue
            self._due.append((missing, self._registry.payload_of(missing)))
            if index is not None:
                self._applied(index, missing)
            else:
                self._versions[missing.aggregate_id] = missing.aggregate_version
                self._moved[missing.aggregate_id] = missing.aggregate_version


class ProjectionHandler:
    """The consumer-loop handler of one projection (live consumption)."""

    def __init__(
        self,
        engine: AsyncEngine,
        projection: Projection,
        registry: EventRegistry,
    ) -> None:
        self._engine = engine
        self._projection = projection
        self._registry = registry
        self._lock_key = projection_lock_key(projection)
        self._span_name = f"project {projection.name}"

    async def __call__(self, envelope: Envelope) -> bool:
        with span(self._span_name):
            [applied] = await self._apply([envelope])
            return applied

    async def apply_batch(
        self, envelopes: Sequence[Envelope], parents: Sequence[Span]
    ) -> list[bool]:
        """Apply several deliveries in one transaction (one commit, one round of tracking);
        each gets its ``project`` span under its own ``parents`` span (its trace)."""
        spans = [
            TRACER.start_span(self._span_name, context=trace.set_span_in_context(parent))
            for parent in parents
        ]
        try:
            return await self._apply(envelopes)
        finally:
            for ended in spans:
                ended.end()

    async def _apply(self, envelopes: Sequence[Envelope]) -> list[bool]:
        async with self._engine.begin() as connection:
            await DriverSql(connection).rows(_SHARED_LOCK, {"key": self._lock_key})
            return await apply_all(
                connection,
                self._projection.consumer,
                envelopes,
                self._registry,
                self._projection.apply_many,
            )

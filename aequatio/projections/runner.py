"""Applying one event to one projection exactly once, in per-aggregate order.

In one transaction: a tracking row ``(consumer, event_id)`` (a conflict means a duplicate:
skip), the aggregate's stream position locked, missing earlier versions read from the event
store and applied first (a gap is filled, never skipped), the event applied, the position
moved. A live applier holds a shared advisory lock on its projection for the transaction, so
a replay's swap (which takes it exclusively) never races a live write.
"""

from __future__ import annotations

import zlib
from collections.abc import Awaitable, Callable

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from aequatio.events.base import EventPayload
from aequatio.events.envelope import Envelope
from aequatio.events.registry import EventRegistry
from aequatio.observability.tracing import span
from aequatio.persistence.event_store import envelope_of
from aequatio.persistence.tables import events_store
from aequatio.projections.base import Projection
from aequatio.projections.tables import processed_events, stream_positions


class EventNotStored(LookupError):
    """A message names an event this database never stored (poison, or the wrong broker)."""


class GapNotFilled(RuntimeError):
    """Earlier events of the aggregate are not in the event store (yet); retry later."""


def projection_lock_key(projection: Projection) -> int:
    """A stable 32-bit key for the projection's advisory lock."""
    return zlib.crc32(f"aequatio:{projection.consumer}".encode())


#: What a consumer does with one event, inside the tracking transaction.
Effect = Callable[[AsyncConnection, Envelope, EventPayload], Awaitable[None]]


async def apply_event(
    connection: AsyncConnection,
    projection: Projection,
    envelope: Envelope,
    registry: EventRegistry,
    *,
    position: int | None = None,
) -> bool:
    """Apply ``envelope`` (and any missing predecessors) to a projection once."""
    return await apply_once(
        connection, projection.consumer, envelope, registry, projection.apply, position=position
    )


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
    payload = registry.payload_of(envelope)  # an unknown or invalid event fails here, first
    if not await _track(connection, consumer, envelope, position):
        return False
    applied = await _lock_stream(connection, consumer, envelope)
    if envelope.aggregate_version <= applied:
        return False
    if envelope.aggregate_version > applied + 1:
        for missing in await _missing(connection, envelope, applied):
            if await _track(connection, consumer, missing, None):
                await effect(connection, missing, registry.payload_of(missing))
    await effect(connection, envelope, payload)
    await connection.execute(
        update(stream_positions)
        .where(
            stream_positions.c.consumer == consumer,
            stream_positions.c.aggregate_id == envelope.aggregate_id,
        )
        .values(version=envelope.aggregate_version)
    )
    return True


async def _track(
    connection: AsyncConnection, consumer: str, envelope: Envelope, position: int | None
) -> bool:
    if position is None:
        position = (
            await connection.execute(
                select(events_store.c.position).where(events_store.c.event_id == envelope.event_id)
            )
        ).scalar_one_or_none()
        if position is None:
            raise EventNotStored(f"event {envelope.event_id} is not in this event store")
    inserted = await connection.execute(
        pg_insert(processed_events)
        .values(
            consumer=consumer,
            event_id=envelope.event_id,
            event_type=envelope.event_type,
            aggregate_id=envelope.aggregate_id,
            aggregate_version=envelope.aggregate_version,
            position=position,
        )
        .on_conflict_do_nothing()
        .returning(processed_events.c.event_id)
    )
    return inserted.first() is not None


async def _lock_stream(connection: AsyncConnection, consumer: str, envelope: Envelope) -> int:
    await connection.execute(
        pg_insert(stream_positions)
        .values(consumer=consumer, aggregate_id=envelope.aggregate_id, version=0)
        .on_conflict_do_nothing()
    )
    return int(
        (
            await connection.execute(
                select(stream_positions.c.version)
                .where(
                    stream_positions.c.consumer == consumer,
                    stream_positions.c.aggregate_id == envelope.aggregate_id,
                )
                .with_for_update()
            )
        ).scalar_one()
    )


async def _missing(connection: AsyncConnection, envelope: Envelope, applied: int) -> list[Envelope]:
    rows = (
        await connection.execute(
            select(events_store)
            .where(
                events_store.c.aggregate_id == envelope.aggregate_id,
                events_store.c.aggregate_version > applied,
                events_store.c.aggregate_version < envelope.aggregate_version,
            )
            .order_by(events_store.c.aggregate_version)
        )
    ).all()
    if len(rows) != envelope.aggregate_version - applied - 1:
        raise GapNotFilled(
            f"{envelope.aggregate_id}: versions {applied + 1}..{envelope.aggregate_version - 1} "
            "are not all in the event store"
        )
    return [envelope_of(row) for row in rows]


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

    async def __call__(self, envelope: Envelope) -> bool:
        with span(f"project {self._projection.name}"):
            async with self._engine.begin() as connection:
                await connection.execute(select(func.pg_advisory_xact_lock_shared(self._lock_key)))
                return await apply_event(connection, self._projection, envelope, self._registry)

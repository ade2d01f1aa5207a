"""Appending to the event store and the outbox in one statement, and reading streams back."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from aequatio.events.envelope import Envelope
from aequatio.persistence.tables import events_outbox, events_store


def _row(envelope: Envelope) -> dict[str, object]:
    return {
        "event_id": envelope.event_id,
        "event_type": envelope.event_type,
        "event_version": envelope.event_version,
        "schema_id": envelope.schema_id,
        "aggregate_type": envelope.aggregate_type,
        "aggregate_id": envelope.aggregate_id,
        "aggregate_version": envelope.aggregate_version,
        "occurred_at": envelope.occurred_at,
        "correlation_id": envelope.correlation_id,
        "causation_id": envelope.causation_id,
        "trace_id": envelope.trace_id,
        "traceparent": envelope.traceparent,
        "actor": envelope.actor,
        "payload": envelope.payload,
    }


async def append(connection: AsyncConnection, envelopes: Sequence[Envelope]) -> None:
    """Store the events and enqueue each for publishing; the outbox trigger NOTIFYs on commit."""
    if not envelopes:
        return
    stored = (
        insert(events_store)
        .values([_row(envelope) for envelope in envelopes])
        .returning(events_store.c.position)
        .cte("stored")
    )
    await connection.execute(
        insert(events_outbox).from_select(["position"], select(stored.c.position))
    )


def envelope_of(row: object) -> Envelope:
    return Envelope.model_validate(row, from_attributes=True)


async def read_stream(connection: AsyncConnection, aggregate_id: UUID) -> list[Envelope]:
    """One aggregate's events in version order."""
    rows = await connection.execute(
        select(events_store)
        .where(events_store.c.aggregate_id == aggregate_id)
        .order_by(events_store.c.aggregate_version)
    )
    return [envelope_of(row) for row in rows]

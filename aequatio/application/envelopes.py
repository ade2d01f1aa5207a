"""Wrapping a recorded event into its envelope with the command's metadata."""

from __future__ import annotations

from aequatio.application.context import CommandContext
from aequatio.application.ids import new_id
from aequatio.domain.aggregate import RecordedEvent
from aequatio.events.envelope import Envelope


def envelope_for(record: RecordedEvent, context: CommandContext) -> Envelope:
    payload = record.payload
    return Envelope(
        event_id=new_id(),
        event_type=payload.event_type,
        event_version=payload.event_version,
        schema_id=payload.schema_id(),
        aggregate_type=record.aggregate_type,
        aggregate_id=record.aggregate_id,
        aggregate_version=record.aggregate_version,
        occurred_at=context.now,
        correlation_id=context.correlation_id,
        causation_id=context.causation_id,
        trace_id=context.trace_id,
        traceparent=context.traceparent,
        actor=context.principal.subject,
        payload=payload.model_dump(mode="json"),
    )

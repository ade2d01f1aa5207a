"""Envelopes on the wire: JSON bodies, routing keys and the headers of the seed design."""

from __future__ import annotations

from pydantic import ValidationError

from aequatio.events.envelope import Envelope
from aequatio.events.registry import EventRegistry
from aequatio.outbox.messages import InboundMessage, OutboundMessage
from aequatio.outbox.topology import DOMAIN_EVENTS


class UndecodableMessage(ValueError):
    """The body is not an envelope aequatio can read (a poison message)."""


def to_message(envelope: Envelope, registry: EventRegistry) -> OutboundMessage:
    return OutboundMessage(
        exchange=DOMAIN_EVENTS,
        routing_key=registry.routing_key(envelope.event_type),
        body=envelope.model_dump_json().encode(),
        message_id=str(envelope.event_id),
        headers={
            "event_type": envelope.event_type,
            "schema_id": envelope.schema_id,
            "event_version": envelope.event_version,
            "correlation_id": str(envelope.correlation_id),
            "traceparent": envelope.traceparent,
            "trace_id": envelope.trace_id,
            # Consumers deduplicate on the event id: a redelivery or a re-publish is the same.
            "idempotency_key": str(envelope.event_id),
        },
    )


def from_message(message: InboundMessage) -> Envelope:
    try:
        return Envelope.model_validate_json(message.body)
    except ValidationError as error:
        raise UndecodableMessage(f"not an event envelope: {error.error_count()} errors") from error

"""The envelope every stored and published event travels in (DESIGN.md, "Event contract")."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict

ENVELOPE_SCHEMA_ID = "urn:aequatio:envelope:v1"


class Envelope(BaseModel):
    """Metadata plus the payload as JSON; ``registry.payload_of`` turns it into a model."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_id: UUID
    event_type: str
    event_version: int
    schema_id: str
    aggregate_type: str
    aggregate_id: UUID
    aggregate_version: int
    occurred_at: AwareDatetime
    correlation_id: UUID
    causation_id: UUID | None = None
    trace_id: str | None = None
    traceparent: str | None = None
    actor: str
    payload: dict[str, Any]

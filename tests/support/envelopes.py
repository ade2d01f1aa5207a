"""Event envelopes built by hand, for tests that need one without a command behind it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from aequatio.events.base import schema_id_for
from aequatio.events.envelope import Envelope


def an_envelope(
    event_type: str = "expense.created",
    payload: dict[str, Any] | None = None,
    **overrides: Any,
) -> Envelope:
    """A version 1 envelope of ``event_type`` with fresh ids, occurring now, by ``ann``.

    The aggregate type is the first part of the event type and the schema id the event's
    (of ``event_version`` when that is overridden); any other field can be overridden.
    """
    fields: dict[str, Any] = {
        "event_id": uuid.uuid4(),
        "event_type": event_type,
        "event_version": 1,
        "aggregate_type": event_type.split(".", maxsplit=1)[0],
        "aggregate_id": uuid.uuid4(),
        "aggregate_version": 1,
        "occurred_at": datetime.now(UTC),
        "correlation_id": uuid.uuid4(),
        "actor": "ann",
        "payload": {} if payload is None else payload,
        **overrides,
    }
    fields.setdefault("schema_id", schema_id_for(event_type, fields["event_version"]))
    return Envelope(**fields)

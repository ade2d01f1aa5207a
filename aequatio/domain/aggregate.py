"""The aggregate base: state changes only through methods that bump the version and record."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar
from uuid import UUID

from aequatio.events.base import EventPayload


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """An event an aggregate recorded, with the aggregate version it produced."""

    aggregate_type: str
    aggregate_id: UUID
    aggregate_version: int
    payload: EventPayload


@dataclass(kw_only=True)
class Aggregate:
    """Carries identity, a version for optimistic concurrency, and events not yet stored.

    ``stored_version`` is the version the row had when loaded (0 for a new aggregate): the
    repository writes only if the row still has it, so two concurrent changes never both win.
    """

    aggregate_type: ClassVar[str]

    id: UUID
    version: int = 0
    stored_version: int = 0
    pending_events: list[RecordedEvent] = field(default_factory=list, repr=False, compare=False)

    def _record(self, payload: EventPayload) -> None:
        self.version += 1
        self.pending_events.append(
            RecordedEvent(self.aggregate_type, self.id, self.version, payload)
        )

    def collect_events(self) -> list[RecordedEvent]:
        """Hand over the recorded events (the unit of work stores them) and forget them."""
        events, self.pending_events = self.pending_events, []
        return events

    @property
    def is_new(self) -> bool:
        return self.stored_version == 0

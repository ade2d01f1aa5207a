"""What a command returns: the aggregate it acted on, its version, and the events it wrote."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from uuid import UUID


@dataclass(frozen=True, slots=True)
class CommandResult:
    aggregate_type: str
    aggregate_id: UUID
    aggregate_version: int
    event_ids: tuple[UUID, ...] = ()
    #: The type of each event in ``event_ids`` (same order).
    event_types: tuple[str, ...] = ()
    #: True when an idempotency key matched and this is the first execution's result.
    replayed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "aggregate_type": self.aggregate_type,
            "aggregate_id": str(self.aggregate_id),
            "aggregate_version": self.aggregate_version,
            "event_ids": [str(event_id) for event_id in self.event_ids],
            "event_types": list(self.event_types),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CommandResult:
        return cls(
            aggregate_type=data["aggregate_type"],
            aggregate_id=UUID(data["aggregate_id"]),
            aggregate_version=int(data["aggregate_version"]),
            event_ids=tuple(UUID(event_id) for event_id in data["event_ids"]),
            event_types=tuple(data.get("event_types", ())),
        )

    def as_replay(self) -> CommandResult:
        return replace(self, replayed=True)

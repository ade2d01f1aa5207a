"""Which payload model belongs to each (event type, version), and upcasting old versions.

Old versions stay registered (their schemas remain published); readers ask for the latest
version and get older payloads upcast step by step: ``v1 -> v2 -> ... -> latest``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aequatio.events.base import EventPayload
from aequatio.events.envelope import Envelope

JsonDict = dict[str, Any]
Upcaster = Callable[[JsonDict], JsonDict]


class UnknownEvent(LookupError):
    """No model is registered for this event type and version."""


class EventRegistry:
    """Models by type and version, plus the upcasters between consecutive versions."""

    def __init__(
        self,
        models: Iterable[type[EventPayload]],
        upcasters: Mapping[tuple[str, int], Upcaster] | None = None,
    ) -> None:
        self._models: dict[tuple[str, int], type[EventPayload]] = {}
        for model in models:
            key = (model.event_type, model.event_version)
            if key in self._models:
                raise ValueError(f"{key} registered twice")
            self._models[key] = model
        self._upcasters = dict(upcasters or {})
        self._latest: dict[str, int] = {}
        for event_type, version in self._models:
            self._latest[event_type] = max(version, self._latest.get(event_type, 0))
        for event_type, latest in self._latest.items():
            for version in range(1, latest):
                if (event_type, version) not in self._upcasters:
                    raise ValueError(f"no upcaster from {event_type} v{version} to v{version + 1}")

    def model(self, event_type: str, version: int) -> type[EventPayload]:
        try:
            return self._models[(event_type, version)]
        except KeyError:
            raise UnknownEvent(f"{event_type} v{version}") from None

    def latest_version(self, event_type: str) -> int:
        try:
            return self._latest[event_type]
        except KeyError:
            raise UnknownEvent(event_type) from None

    def routing_key(self, event_type: str) -> str:
        """``<context>.<aggregate>.<event>`` of an event type (from its latest model)."""
        return self.model(event_type, self.latest_version(event_type)).routing_key()

    def event_types(self) -> list[str]:
        return sorted(self._latest)

    def models(self) -> list[type[EventPayload]]:
        """Every registered model, ordered by type then version."""
        return [self._models[key] for key in sorted(self._models)]

    def upcast(self, event_type: str, version: int, payload: JsonDict) -> tuple[int, JsonDict]:
        """Bring a stored payload to the latest version; returns ``(latest, payload)``."""
        latest = self.latest_version(event_type)
        if version > latest:
            raise UnknownEvent(f"{event_type} v{version} is newer than this code (v{latest})")
        self.model(event_type, version)
        while version < latest:
            payload = self._upcasters[(event_type, version)](dict(payload))
            version += 1
        return version, payload

    def decode(self, event_type: str, version: int, payload: JsonDict) -> EventPayload:
        """Validate a stored payload as the latest model of its type."""
        latest, upcast = self.upcast(event_type, version, payload)
        return self.model(event_type, latest).model_validate(upcast)

    def payload_of(self, envelope: Envelope) -> EventPayload:
        return self.decode(envelope.event_type, envelope.event_version, envelope.payload)

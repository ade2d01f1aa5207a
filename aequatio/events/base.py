"""The base of every event payload: a frozen Pydantic model naming its type and version.

Readers are tolerant (unknown fields are ignored) so an additive change never breaks a consumer;
an incompatible change gets a new ``event_version`` and an upcaster from the old one.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict


class EventPayload(BaseModel):
    """A versioned payload; subclasses set the class variables below."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    #: ``<aggregate>.<event>``, e.g. ``expense.created``.
    event_type: ClassVar[str]
    #: Bumped only for incompatible changes; additive changes stay in the same version.
    event_version: ClassVar[int]
    #: Bounded context, the first part of the routing key ``<context>.<aggregate>.<event>``.
    context: ClassVar[str]

    @classmethod
    def schema_id(cls) -> str:
        return schema_id_for(cls.event_type, cls.event_version)

    @classmethod
    def routing_key(cls) -> str:
        return f"{cls.context}.{cls.event_type}"


class Fragment(BaseModel):
    """A nested part of a payload (lines, payers...): frozen and tolerant like payloads."""

    model_config = ConfigDict(frozen=True, extra="ignore")


def schema_id_for(event_type: str, version: int) -> str:
    """The published identifier of one event schema version."""
    return f"urn:aequatio:event:{event_type}:v{version}"

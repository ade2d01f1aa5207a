"""A read model: a name, the events it listens to, its tables, and how an event changes them.

``apply`` runs inside the consumer's transaction, after the runner made sure this event was not
applied before and that every earlier event of the same aggregate was. It is never called twice
for one event and never out of order within an aggregate — but events of *different* aggregates
may arrive in any order, so a projection upserts and never relies on another aggregate's row
being there already.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from aequatio.events.base import EventPayload
from aequatio.events.envelope import Envelope
from aequatio.events.registry import EventRegistry
from aequatio.outbox.topology import Queue, routed_event_types


class Projection(ABC):
    #: ``projection.<name>`` is its queue and its consumer name in the tracking tables.
    name: ClassVar[str]
    #: Routing-key patterns on ``domain.events`` (``expenses.expense.*``, ``#``...).
    patterns: ClassVar[tuple[str, ...]]
    #: The ``read`` tables it owns: rebuilt and swapped together on replay.
    tables: ClassVar[tuple[Table, ...]]

    @property
    def consumer(self) -> str:
        return f"projection.{self.name}"

    def queue(self) -> Queue:
        return Queue(self.consumer, self.patterns)

    def event_types(self, registry: EventRegistry) -> list[str]:
        """The registered event types whose routing key this projection listens to."""
        return routed_event_types(self.patterns, registry)

    @abstractmethod
    async def apply(
        self, connection: AsyncConnection, envelope: Envelope, payload: EventPayload
    ) -> None: ...

    async def apply_many(
        self, connection: AsyncConnection, items: Sequence[tuple[Envelope, EventPayload]]
    ) -> None:
        """Apply several events, in the order given, with the same guarantees as ``apply``.

        One by one here; a projection that can fold a batch (a live batch, a replay's page)
        into a few statements overrides it, with the same result as applying them in turn.
        """
        for envelope, payload in items:
            await self.apply(connection, envelope, payload)

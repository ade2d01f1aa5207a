"""The background roles of a process: the outbox dispatcher and the consumers.

``aequatio worker --role ...`` runs chosen roles against RabbitMQ (each role may run in several
processes); the embedded ``aequatio serve`` runs every role in-process on the in-process
transport. Consumers start before the dispatcher and stop after it, so nothing published in
this process waits for a consumer that is gone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncEngine

from aequatio.events.catalog import EVENTS
from aequatio.outbox.consumer import ConsumerLoop
from aequatio.outbox.dispatcher import DispatcherSettings, OutboxDispatcher
from aequatio.outbox.topology import Topology
from aequatio.outbox.transport import Transport
from aequatio.persistence.errors import is_transient
from aequatio.projections.base import Projection
from aequatio.projections.catalog import PROJECTIONS
from aequatio.projections.runner import ProjectionHandler

log = logging.getLogger(__name__)


class Role(StrEnum):
    DISPATCHER = "dispatcher"
    PROJECTIONS = "projections"

    @classmethod
    def parse_all(cls, names: Iterable[str]) -> set[Role]:
        chosen: set[Role] = set()
        for name in names:
            chosen |= set(cls) if name == "all" else {cls(name)}
        return chosen


def topology(projections: Iterable[Projection] = PROJECTIONS) -> Topology:
    """Every consumer queue, declared by every process (so routing never depends on roles)."""
    return Topology().with_queues(*(projection.queue() for projection in projections))


class Workers:
    def __init__(
        self,
        engine: AsyncEngine,
        transport: Transport,
        roles: Iterable[Role],
        *,
        projections: Iterable[Projection] = PROJECTIONS,
        dispatcher_settings: DispatcherSettings | None = None,
    ) -> None:
        self._engine = engine
        self.transport = transport
        self.roles = set(roles)
        self._projections = tuple(projections)
        self.dispatcher = OutboxDispatcher(engine, transport, EVENTS, dispatcher_settings)
        self._consumers: list[ConsumerLoop] = []
        self._dispatching: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.transport.start()
        await self.transport.declare(topology(self._projections))
        if Role.PROJECTIONS in self.roles:
            for projection in self._projections:
                loop = ConsumerLoop(
                    self.transport,
                    projection.queue(),
                    ProjectionHandler(self._engine, projection, EVENTS),
                    is_transient=is_transient,
                )
                await loop.start()
                self._consumers.append(loop)
        if Role.DISPATCHER in self.roles:
            self._dispatching = asyncio.create_task(self.dispatcher.run(), name="dispatcher")
        log.info("workers started: %s", ", ".join(sorted(self.roles)) or "none")

    async def stop(self) -> None:
        if self._dispatching is not None:
            await self.dispatcher.stop()
            await self._dispatching
        for loop in self._consumers:
            await loop.stop()
        await self.transport.close()

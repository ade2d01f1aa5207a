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

from aequatio.application.bus import MessageBus
from aequatio.events.catalog import EVENTS
from aequatio.observability.observer import Observer
from aequatio.outbox.consumer import ConsumerLoop
from aequatio.outbox.dispatcher import DispatcherSettings, OutboxDispatcher
from aequatio.outbox.topology import Topology
from aequatio.outbox.transport import Transport
from aequatio.persistence.errors import is_transient
from aequatio.projections.base import Projection
from aequatio.projections.catalog import PROJECTIONS
from aequatio.projections.runner import ProjectionHandler
from aequatio.sagas.base import Saga
from aequatio.sagas.catalog import SAGAS
from aequatio.sagas.runner import SagaHandler, TimeoutSweeper

log = logging.getLogger(__name__)


class Role(StrEnum):
    DISPATCHER = "dispatcher"
    PROJECTIONS = "projections"
    SAGAS = "sagas"

    @classmethod
    def parse_all(cls, names: Iterable[str]) -> set[Role]:
        chosen: set[Role] = set()
        for name in names:
            chosen |= set(cls) if name == "all" else {cls(name)}
        return chosen


def topology(
    projections: Iterable[Projection] = PROJECTIONS, sagas: Iterable[Saga] = SAGAS
) -> Topology:
    """Every consumer queue, declared by every process (so routing never depends on roles)."""
    return Topology().with_queues(
        *(projection.queue() for projection in projections), *(saga.queue() for saga in sagas)
    )


class Workers:
    def __init__(
        self,
        engine: AsyncEngine,
        transport: Transport,
        roles: Iterable[Role],
        *,
        bus: MessageBus | None = None,
        projections: Iterable[Projection] = PROJECTIONS,
        sagas: Iterable[Saga] = SAGAS,
        dispatcher_settings: DispatcherSettings | None = None,
        observe_every: float = 10.0,
    ) -> None:
        self._engine = engine
        self.transport = transport
        self.roles = set(roles)
        self._bus = bus
        self._projections = tuple(projections)
        self._sagas = tuple(sagas)
        self.dispatcher = OutboxDispatcher(engine, transport, EVENTS, dispatcher_settings)
        self._consumers: list[ConsumerLoop] = []
        self._dispatching: asyncio.Task[None] | None = None
        self._sweeper: TimeoutSweeper | None = None
        self._sweeping: asyncio.Task[None] | None = None
        self._observer = Observer(
            engine,
            EVENTS,
            outbox=self.dispatcher if Role.DISPATCHER in self.roles else None,
            projections=self._projections if Role.PROJECTIONS in self.roles else (),
            sagas=self._sagas if Role.SAGAS in self.roles else (),
            every=observe_every,
        )
        self._observing: asyncio.Task[None] | None = None
        if Role.SAGAS in self.roles and bus is None:
            raise ValueError("the sagas role needs the command bus")

    async def start(self) -> None:
        await self.transport.start()
        await self.transport.declare(self._topology())
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
        if Role.SAGAS in self.roles and self._bus is not None:
            for saga in self._sagas:
                loop = ConsumerLoop(
                    self.transport,
                    saga.queue(),
                    SagaHandler(self._engine, self._bus, saga, EVENTS),
                    is_transient=is_transient,
                )
                await loop.start()
                self._consumers.append(loop)
            self._sweeper = TimeoutSweeper(self._engine, self._bus, list(self._sagas))
            self._sweeping = asyncio.create_task(self._sweeper.run(), name="saga timeouts")
        if Role.DISPATCHER in self.roles:
            self._dispatching = asyncio.create_task(self.dispatcher.run(), name="dispatcher")
        if self.roles:
            self._observing = asyncio.create_task(self._observer.run(), name="observer")
        log.info("workers started: %s", ", ".join(sorted(self.roles)) or "none")

    def _topology(self) -> Topology:
        """Every queue on a broker; in-process, only the queues this process consumes (a
        publish there is confirmed by the consumers, which must exist)."""
        if self.transport.keeps_messages:
            return topology(self._projections, self._sagas)
        return topology(
            self._projections if Role.PROJECTIONS in self.roles else (),
            self._sagas if Role.SAGAS in self.roles else (),
        )

    async def stop(self) -> None:
        if self._observing is not None:
            await self._observer.stop()
            await self._observing
        if self._dispatching is not None:
            await self.dispatcher.stop()
            await self._dispatching
        if self._sweeper is not None and self._sweeping is not None:
            await self._sweeper.stop()
            await self._sweeping
        for loop in self._consumers:
            await loop.stop()
        await self.transport.close()

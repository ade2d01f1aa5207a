"""Measurements too costly to take on every event, taken every few seconds instead: the
outbox's backlog and lag, how far each projection is behind the event store, and how many sagas
are in each status. All are facts of the database, so any process may take them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from aequatio.events.registry import EventRegistry
from aequatio.observability.metrics import (
    OUTBOX_OLDEST_AGE,
    OUTBOX_PENDING,
    PROJECTION_LAG,
    SAGA_STATES,
)
from aequatio.outbox.dispatcher import OutboxDispatcher
from aequatio.persistence.tables import events_store, saga_states
from aequatio.projections.base import Projection
from aequatio.projections.tables import processed_events
from aequatio.sagas.base import Saga

log = logging.getLogger(__name__)


class Observer:
    def __init__(
        self,
        engine: AsyncEngine,
        registry: EventRegistry,
        *,
        outbox: OutboxDispatcher | None = None,
        projections: Iterable[Projection] = (),
        sagas: Iterable[Saga] = (),
        every: float = 10.0,
    ) -> None:
        self._engine = engine
        self._registry = registry
        self._outbox = outbox
        self._projections = tuple(projections)
        self._sagas = tuple(sagas)
        self._every = every
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.observe()
            except Exception as error:
                log.warning("could not measure lag and saga states: %r", error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._every)

    async def stop(self) -> None:
        self._stopping.set()

    async def observe(self) -> None:
        if self._outbox is not None:
            pending, oldest = await self._outbox.pending()
            OUTBOX_PENDING.set(pending)
            OUTBOX_OLDEST_AGE.set(oldest or 0.0)
        async with self._engine.connect() as connection:
            for projection in self._projections:
                newest = (
                    await connection.execute(
                        select(func.max(events_store.c.position)).where(
                            events_store.c.event_type.in_(projection.event_types(self._registry))
                        )
                    )
                ).scalar()
                applied = (
                    await connection.execute(
                        select(func.max(processed_events.c.position)).where(
                            processed_events.c.consumer == projection.consumer
                        )
                    )
                ).scalar()
                PROJECTION_LAG.labels(projection.name).set(max((newest or 0) - (applied or 0), 0))
            if self._sagas:
                rows = await connection.execute(
                    select(saga_states.c.saga, saga_states.c.status, func.count())
                    .where(saga_states.c.saga.in_([saga.name for saga in self._sagas]))
                    .group_by(saga_states.c.saga, saga_states.c.status)
                )
                counts = {(saga, status): count for saga, status, count in rows}
                SAGA_STATES.clear()  # a status no saga is in any more reads as absent, not stale
                for (saga, status), count in counts.items():
                    SAGA_STATES.labels(saga, status).set(count)

"""Running the whole read side in a test and telling when it has caught up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from aequatio.application.bus import MessageBus
from aequatio.events.catalog import EVENTS
from aequatio.outbox.dispatcher import DispatcherSettings
from aequatio.outbox.transport import Transport
from aequatio.persistence.tables import events_store
from aequatio.projections.base import Projection
from aequatio.projections.catalog import PROJECTIONS
from aequatio.projections.tables import processed_events
from aequatio.workers import Role, Workers
from tests.support.recompute import projected_balances, recompute_balances

FAST = DispatcherSettings(poll_interval=0.2, standby_interval=0.2)


async def committed_ids(engine: AsyncEngine, projection: Projection) -> set[UUID]:
    """Ids of the committed events the projection listens to."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(events_store.c.event_id).where(
                events_store.c.event_type.in_(projection.event_types(EVENTS))
            )
        )
        return set(rows.scalars())


async def applied_ids(engine: AsyncEngine, projection: Projection) -> set[UUID]:
    """Ids of the events the projection has applied (its tracking rows)."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(processed_events.c.event_id).where(
                processed_events.c.consumer == projection.consumer
            )
        )
        return set(rows.scalars())


async def lagging(
    engine: AsyncEngine, projections: Iterable[Projection] = PROJECTIONS
) -> list[str]:
    """Projections that have not applied every committed event they listen to."""
    behind = []
    for projection in projections:
        if await applied_ids(engine, projection) != await committed_ids(engine, projection):
            behind.append(projection.name)
    return behind


async def wait_caught_up(
    engine: AsyncEngine, projections: Iterable[Projection] = PROJECTIONS, *, within: float = 60
) -> None:
    chosen = tuple(projections)
    try:
        async with asyncio.timeout(within):
            while await lagging(engine, chosen):  # noqa: ASYNC110 - polls the database
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(
            f"still behind after {within}s: {await lagging(engine, chosen)}"
        ) from None


@asynccontextmanager
async def read_side(
    engine: AsyncEngine,
    transport: Transport,
    roles: Iterable[Role] = (Role.DISPATCHER, Role.PROJECTIONS),
    settings: DispatcherSettings = FAST,
    *,
    bus: MessageBus | None = None,
) -> AsyncIterator[Workers]:
    """Dispatcher and every projection consumer (and the sagas, given the bus), for the block."""
    workers = Workers(engine, transport, roles, bus=bus, dispatcher_settings=settings)
    await workers.start()
    try:
        yield workers
    finally:
        await workers.stop()


async def assert_exactly_once(engine: AsyncEngine) -> None:
    """Every projection applied exactly the committed events it listens to, and every balance
    equals the one recomputed from the event store alone."""
    await wait_caught_up(engine, within=90)
    for projection in PROJECTIONS:
        assert await applied_ids(engine, projection) == await committed_ids(engine, projection)
    async with engine.connect() as connection:
        assert await projected_balances(connection) == await recompute_balances(connection)

"""The whole read side running live: every committed event reaches every projection that
listens to it, exactly once, and the tables equal the ones built by replaying the event store."""

from __future__ import annotations

from aequatio.bootstrap import Application
from aequatio.outbox.transport import Transport
from aequatio.projections.catalog import PROJECTIONS
from tests.support.history import project_everything, reset, rich_history, snapshot
from tests.support.readside import applied_ids, committed_ids, read_side, wait_caught_up
from tests.support.recompute import projected_balances, recompute_balances


async def test_a_live_read_side_applies_every_event_exactly_once(
    application: Application, transport: Transport
) -> None:
    async with read_side(application.engine, transport):
        await rich_history(application.bus)
        await wait_caught_up(application.engine)
    for projection in PROJECTIONS:
        assert await applied_ids(application.engine, projection) == await committed_ids(
            application.engine, projection
        )
    async with application.engine.connect() as connection:
        assert await projected_balances(connection) == await recompute_balances(connection)


async def test_tables_built_live_equal_tables_built_from_the_event_store_in_order(
    application: Application, transport: Transport
) -> None:
    async with read_side(application.engine, transport):
        await rich_history(application.bus)
        await wait_caught_up(application.engine)
    live = await snapshot(application.engine)

    await reset(application.engine)
    await project_everything(application.engine)

    assert await snapshot(application.engine) == live

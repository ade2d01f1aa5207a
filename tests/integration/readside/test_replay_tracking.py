"""A replay's swap leaves the consumer's tracking rows exactly as the rebuild tracked them, and
writes only the rows that differ (the swap stops live consumption while it runs)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from aequatio.bootstrap import Application
from aequatio.events.catalog import EVENTS
from aequatio.outbox.transport import Transport
from aequatio.projections.catalog import by_name
from aequatio.projections.replay import replay
from aequatio.projections.tracking_sync import sync_tracking
from tests.support.family import family
from tests.support.readside import read_side, wait_caught_up
from tests.support.workload import expenses

REBUILT = "read_rebuild_tracking_test"
PROCESSED = (
    "SELECT consumer, event_id, event_type, aggregate_id, aggregate_version, position "
    'FROM "{schema}".processed_events ORDER BY consumer, event_id'
)
STREAMS = 'SELECT consumer, aggregate_id, version FROM "{schema}".stream_positions ORDER BY 1, 2'


async def tracking(connection: AsyncConnection, schema: str = "read") -> dict[str, list[Any]]:
    return {
        name: [tuple(row) for row in await connection.execute(text(sql.format(schema=schema)))]
        for name, sql in (("processed", PROCESSED), ("streams", STREAMS))
    }


async def history(application: Application, transport: Transport) -> None:
    fam = await family(application.bus, "Ann", "Ben", "Cai")
    async with read_side(application.engine, transport):
        await expenses(application, fam, 12, seed=5)
        await wait_caught_up(application.engine)


async def tamper(connection: AsyncConnection, schema: str, consumer: str) -> None:
    """Five differences from what was tracked: a row missing and a row too many in each
    table, and a stream at another version (a real one: changed before the bogus row)."""
    one = {"consumer": consumer}
    for statement in (
        'DELETE FROM "{s}".processed_events WHERE consumer = :consumer AND event_id = '
        '(SELECT min(event_id::text)::uuid FROM "{s}".processed_events WHERE consumer = :consumer)',
        'INSERT INTO "{s}".processed_events (consumer, event_id, event_type, aggregate_id, '
        "aggregate_version, position) VALUES (:consumer, :bogus, 'expense.created', :bogus, 1, 1)",
        'DELETE FROM "{s}".stream_positions WHERE consumer = :consumer AND aggregate_id = '
        '(SELECT min(aggregate_id::text)::uuid FROM "{s}".stream_positions '
        "WHERE consumer = :consumer)",
        'UPDATE "{s}".stream_positions SET version = version + 7 WHERE consumer = :consumer AND '
        'aggregate_id = (SELECT max(aggregate_id::text)::uuid FROM "{s}".stream_positions '
        "WHERE consumer = :consumer)",
        'INSERT INTO "{s}".stream_positions (consumer, aggregate_id, version) '
        "VALUES (:consumer, :bogus, 3)",
    ):
        result = await connection.execute(
            text(statement.format(s=schema)), one | {"bogus": uuid.uuid4()}
        )
        assert result.rowcount == 1


async def test_a_replay_puts_back_the_tracking_rows_the_live_consumer_got_wrong(
    application: Application, transport: Transport
) -> None:
    await history(application, transport)
    balances = by_name("balances")
    async with application.engine.begin() as connection:
        tracked = await tracking(connection)
        await tamper(connection, "read", balances.consumer)
        assert await tracking(connection) != tracked

    await replay(application.engine, balances, EVENTS)

    async with application.engine.connect() as connection:
        assert await tracking(connection) == tracked  # other consumers' rows untouched too


async def copy_of_tracking(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{REBUILT}"'))
        for table in ("processed_events", "stream_positions"):
            await connection.execute(
                text(f'CREATE TABLE "{REBUILT}".{table} (LIKE read.{table} INCLUDING ALL)')
            )
            await connection.execute(
                text(f'INSERT INTO "{REBUILT}".{table} SELECT * FROM read.{table}')  # noqa: S608
            )


async def test_the_swap_writes_only_the_rows_that_differ(
    application: Application, transport: Transport
) -> None:
    await history(application, transport)
    consumer = by_name("balances").consumer
    await copy_of_tracking(application.engine)
    try:
        async with application.engine.begin() as connection:
            assert await sync_tracking(connection, consumer, REBUILT) == 0

            await tamper(connection, REBUILT, consumer)
            assert await sync_tracking(connection, consumer, REBUILT) == 5
            assert await tracking(connection) == await tracking(connection, REBUILT)
    finally:
        async with application.engine.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA "{REBUILT}" CASCADE'))

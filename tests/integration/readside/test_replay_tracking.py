"""A replay's swap leaves the consumer's tracking rows exactly as the rebuild tracked them, by
swapping the consumer's partitions of the tracking tables (a consumer without partitions of its
own gets them), and leaves every other consumer's rows alone."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from aequatio.bootstrap import Application
from aequatio.events.catalog import EVENTS
from aequatio.outbox.transport import Transport
from aequatio.projections.catalog import by_name
from aequatio.projections.replay import replay
from tests.support.family import family
from tests.support.readside import read_side, wait_caught_up
from tests.support.workload import expenses

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


async def partition_of(connection: AsyncConnection, consumer: str) -> list[str]:
    """Which table holds each of ``consumer``'s tracking rows (the partition's name)."""
    return sorted(
        {
            str(name)
            for table in ("processed_events", "stream_positions")
            for name in (
                await connection.execute(
                    text(
                        f"SELECT DISTINCT tableoid::regclass::text FROM read.{table} "  # noqa: S608
                        "WHERE consumer = :consumer"
                    ),
                    {"consumer": consumer},
                )
            ).scalars()
        }
    )


async def test_a_consumer_with_no_partition_of_its_own_gets_one_at_its_replay(
    application: Application, transport: Transport
) -> None:
    """As a projection added after migration 0006 would be: its rows in the default partitions."""
    await history(application, transport)
    balances = by_name("balances")
    async with application.engine.begin() as connection:
        tracked = await tracking(connection)
        for table in ("processed_events", "stream_positions"):
            partition = f"read.{table}__projection_balances"
            await connection.execute(text(f"ALTER TABLE read.{table} DETACH PARTITION {partition}"))
            await connection.execute(text(f"INSERT INTO read.{table} SELECT * FROM {partition}"))  # noqa: S608
            await connection.execute(text(f"DROP TABLE {partition}"))
        assert await partition_of(connection, balances.consumer) == [
            "read.processed_events_default",
            "read.stream_positions_default",
        ]
        assert await tracking(connection) == tracked

    await replay(application.engine, balances, EVENTS)

    async with application.engine.connect() as connection:
        assert await tracking(connection) == tracked
        assert await partition_of(connection, balances.consumer) == [
            "read.processed_events__projection_balances",
            "read.stream_positions__projection_balances",
        ]


async def test_a_replay_swaps_the_consumer_s_partitions_and_no_other(
    application: Application, transport: Transport
) -> None:
    await history(application, transport)
    balances, expenses_ = by_name("balances"), by_name("expenses")
    oids = (
        "SELECT c.relname, c.oid FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent IN "
        "('read.processed_events'::regclass, 'read.stream_positions'::regclass)"
    )
    async with application.engine.connect() as connection:
        before = {row.relname: row.oid for row in await connection.execute(text(oids))}

    await replay(application.engine, balances, EVENTS)
    await replay(application.engine, balances, EVENTS)  # a partition a replay attached, replaced

    async with application.engine.connect() as connection:
        after = {row.relname: row.oid for row in await connection.execute(text(oids))}
        assert await partition_of(connection, expenses_.consumer) == [
            "read.processed_events__projection_expenses",
            "read.stream_positions__projection_expenses",
        ]
        # The attached partitions keep the partitioned tables' indexes, and no stray check.
        constraints = await connection.execute(
            text(
                "SELECT conname FROM pg_constraint WHERE conrelid = "
                "'read.processed_events__projection_balances'::regclass"
            )
        )
        assert set(constraints.scalars()) == {"processed_events__projection_balances_pkey"}
    assert set(after) == set(before)
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {
        "processed_events__projection_balances",
        "stream_positions__projection_balances",
    }

"""Migration 0006 partitions the tracking tables by consumer, keeping every row (and 0005 gets
them back unpartitioned)."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import text

from aequatio.persistence.database import create_engine, downgrade, migrate
from aequatio.projections.catalog import PROJECTIONS
from aequatio.sagas.catalog import SAGAS

PROCESSED = (
    "SELECT tableoid::regclass::text, consumer, event_id, position "
    "FROM read.processed_events ORDER BY consumer, event_id"
)
STREAMS = (
    "SELECT tableoid::regclass::text, consumer, aggregate_id, version "
    "FROM read.stream_positions ORDER BY consumer, aggregate_id"
)


async def rows(url: str) -> dict[str, list[tuple[object, ...]]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return {
                name: [tuple(row) for row in await connection.execute(text(sql))]
                for name, sql in (("processed", PROCESSED), ("streams", STREAMS))
            }
    finally:
        await engine.dispose()


async def track(url: str, consumers: list[str]) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            for position, consumer in enumerate(consumers, start=1):
                aggregate = uuid.uuid4()
                await connection.execute(
                    text(
                        "INSERT INTO read.processed_events (consumer, event_id, event_type, "
                        "aggregate_id, aggregate_version, position) "
                        "VALUES (:consumer, :event, 'expense.created', :aggregate, 1, :position)"
                    ),
                    {
                        "consumer": consumer,
                        "event": uuid.uuid4(),
                        "aggregate": aggregate,
                        "position": position,
                    },
                )
                await connection.execute(
                    text(
                        "INSERT INTO read.stream_positions (consumer, aggregate_id, version) "
                        "VALUES (:consumer, :aggregate, 1)"
                    ),
                    {"consumer": consumer, "aggregate": aggregate},
                )
    finally:
        await engine.dispose()


def unpartitioned(
    found: dict[str, list[tuple[object, ...]]],
) -> dict[str, list[tuple[object, ...]]]:
    return {name: [row[1:] for row in table] for name, table in found.items()}


async def test_every_tracking_row_moves_into_its_consumer_s_partition_and_back(
    empty_database_url: str,
) -> None:
    url = empty_database_url
    known = [projection.consumer for projection in PROJECTIONS] + [saga.consumer for saga in SAGAS]
    await asyncio.to_thread(migrate, url, "0005")
    await track(url, [*known, "someone.else"])
    before = await rows(url)
    assert {table for table, *_ in before["processed"]} == {"read.processed_events"}

    await asyncio.to_thread(migrate, url, "0006")
    after = await rows(url)
    assert unpartitioned(after) == unpartitioned(before)
    where = {consumer: table for table, consumer, *_ in after["processed"]}
    assert where["someone.else"] == "read.processed_events_default"
    assert where["projection.balances"] == "read.processed_events__projection_balances"
    assert where["saga.invoice"] == "read.processed_events__saga_invoice"
    assert len(set(where.values())) == len(known) + 1  # one partition each
    streams = {consumer: table for table, consumer, *_ in after["streams"]}
    assert streams["projection.activity"] == "read.stream_positions__projection_activity"

    await asyncio.to_thread(downgrade, url, "0005")
    back = await rows(url)
    assert unpartitioned(back) == unpartitioned(before)
    assert {table for table, *_ in back["streams"]} == {"read.stream_positions"}

"""Every message arrives several times, out of order, and is randomly handed back to the broker.

The dispatcher publishes each event 2 to 6 times (the event and 1 to 5 copies, the copies
scattered later in its batch, so copies overtake originals of other events), and every
consumer — projections and sagas — gives a random share of its deliveries back to the broker
(``basic.nack`` with requeue) before its handler sees them. The projections must end exactly
as a clean run builds them: the same committed events, copied into a second database and
projected there once, in order, without any fault, give identical read tables, row for row.
Plus the usual checks.
"""

from __future__ import annotations

import io
import random
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from aequatio.bootstrap import Application
from aequatio.outbox.amqp import AmqpTransport
from aequatio.outbox.inprocess import InProcessTransport
from aequatio.outbox.messages import Delivery, OutboundMessage, PublishOutcome
from aequatio.outbox.transport import BatchDeliveryHandler, Consumer
from aequatio.persistence.database import create_engine
from aequatio.projections.catalog import PROJECTIONS
from aequatio.projections.tables import metadata as read_metadata
from aequatio.workers import Role
from tests.support.databases import admin, asyncpg_url
from tests.support.faultcheck import FOLLOWERS, assert_consistent, caught_up
from tests.support.faultload import Ledger
from tests.support.faultscale import scaled
from tests.support.readside import read_side

EVENTS = scaled(150, 20_000)
REQUEUE_PROBABILITY = 0.2
ALL_ROLES = (Role.DISPATCHER, Role.PROJECTIONS, Role.SAGAS)
PROJECTION_CONSUMERS = {projection.consumer for projection in PROJECTIONS}
#: Columns a clean run legitimately fills differently (when it ran, not what it computed).
WALL_CLOCK = {("processed_events", "applied_at")}

pytestmark = pytest.mark.timeout(scaled(180, 4 * 3600))


class ChaosTransport(AmqpTransport):
    """Publishes every message 2-6 times; consumers give 20% of deliveries back unread."""

    def __init__(self, url: str, rng: random.Random) -> None:
        super().__init__(url)
        self._rng = rng
        self.copies = 0
        self.requeued = 0

    async def publish(self, messages: Sequence[OutboundMessage]) -> list[PublishOutcome]:
        sent: list[tuple[int, OutboundMessage]] = [(n, m) for n, m in enumerate(messages)]
        for n, message in enumerate(messages):
            for _ in range(self._rng.randint(1, 5)):
                sent.insert(self._rng.randint(n + 1, len(sent)), (n, message))
                self.copies += 1
        outcomes = await super().publish([message for _, message in sent])
        worst = [PublishOutcome.CONFIRMED] * len(messages)
        for (n, _), outcome in zip(sent, outcomes, strict=True):
            if outcome is not PublishOutcome.CONFIRMED:
                worst[n] = outcome
        return worst

    async def consume_batches(
        self, queue: str, handler: BatchDeliveryHandler, *, prefetch: int, max_batch: int
    ) -> Consumer:
        async def fickle(batch: Sequence[Delivery]) -> None:
            kept = []
            for delivery in batch:
                if self._rng.random() < REQUEUE_PROBABILITY:
                    self.requeued += 1
                    await delivery.requeue()
                else:
                    kept.append(delivery)
            if kept:
                await handler(kept)

        return await super().consume_batches(queue, fickle, prefetch=prefetch, max_batch=max_batch)


def dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


@pytest.fixture
async def clean_database(fault_template: str) -> AsyncIterator[str]:
    name = f"aeq_fc_{uuid.uuid4().hex[:12]}"
    await admin(f'CREATE DATABASE "{name}" TEMPLATE "{fault_template}"')
    yield asyncpg_url(name)
    await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def copy_events(source_url: str, target_url: str) -> int:
    """The event store of ``source_url`` into ``target_url`` (same positions), every event
    queued in its outbox."""
    buffer = io.BytesIO()
    source = await asyncpg.connect(dsn(source_url))
    try:
        await source.copy_from_table("events_store", output=buffer, format="binary")
    finally:
        await source.close()
    buffer.seek(0)
    target = await asyncpg.connect(dsn(target_url))
    try:
        async with target.transaction():
            await target.copy_to_table("events_store", source=buffer, format="binary")
            await target.execute(
                "INSERT INTO events_outbox (position) SELECT position FROM events_store"
            )
        return int(await target.fetchval("SELECT count(*) FROM events_store"))
    finally:
        await target.close()


async def read_tables(engine: AsyncEngine) -> dict[str, set[tuple[Any, ...]]]:
    """Every projection table's rows (tracking rows of the projections only)."""
    contents: dict[str, set[tuple[Any, ...]]] = {}
    async with engine.connect() as connection:
        for table in read_metadata.sorted_tables:
            columns = [c for c in table.columns if (table.name, c.name) not in WALL_CLOCK]
            query = select(*columns)
            if "consumer" in table.columns:
                query = query.where(table.c.consumer.in_(PROJECTION_CONSUMERS))
            rows = (await connection.execute(query)).all()
            contents[table.name] = {tuple(_hashable(value) for value in row) for row in rows}
    return contents


def _hashable(value: object) -> object:
    return repr(value) if isinstance(value, dict | list) else value


async def test_duplicated_and_requeued_messages_build_the_same_projections_as_a_clean_run(
    application: Application,
    amqp_url: str,
    database_url: str,
    clean_database: str,
    rng: random.Random,
) -> None:
    ledger = await Ledger.open(application, rng)
    chaos = ChaosTransport(amqp_url, random.Random(rng.random()))
    async with read_side(application.engine, chaos, ALL_ROLES, bus=application.bus):
        await ledger.commit(EVENTS)
        await assert_consistent(application.engine, amqp_url=amqp_url)
    print(f"{ledger.committed} events: {chaos.copies} extra copies, {chaos.requeued} requeued")
    assert chaos.copies >= ledger.committed
    assert chaos.requeued > 0

    copied = await copy_events(database_url, clean_database)
    clean = create_engine(clean_database, pool_size=5, max_overflow=5)
    try:
        projections = [f for f in FOLLOWERS if f.consumer in PROJECTION_CONSUMERS]
        async with read_side(clean, InProcessTransport(), (Role.DISPATCHER, Role.PROJECTIONS)):
            await caught_up(clean, projections)
        faulty, expected = await read_tables(application.engine), await read_tables(clean)
    finally:
        await clean.dispose()
    differences = {
        name: (len(faulty[name] - expected[name]), len(expected[name] - faulty[name]))
        for name in expected
        if faulty[name] != expected[name]
    }
    sizes = {name: len(rows) for name, rows in expected.items()}
    print(f"clean run of {copied} events; rows per read table: {sizes}")
    assert not differences, f"read tables differ from a clean run (extra, missing): {differences}"
    assert sizes["processed_events"] > 0
    assert sizes["monthly_balances"] > 0
    async with clean.connect() as connection:  # the engine reconnects for one last look
        unpublished = await connection.scalar(
            text("SELECT count(*) FROM events_outbox WHERE published_at IS NULL")
        )
    assert unpublished == 0

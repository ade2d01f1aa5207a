"""The dispatcher's claim walks the partial index and joins and serializes its batch only.

Whatever the outbox's statistics say, the claim must not read, join and serialize the whole
backlog to keep one batch of it: not when autovacuum analyzed the outbox in its usual state,
everything published, and a backlog built up since (the broker was away); not before the
outbox was ever analyzed (a new deployment, or a server without autovacuum); and not after
thousands of published events, where a join could merge the outbox with the event store read
from its first event. It reads the partial index of unpublished rows, in every case.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy.dialects import postgresql

from aequatio.outbox.dispatcher import CLAIM, CLAIM_PLANNING, DispatcherSettings

APPEND = """
WITH events AS (
    INSERT INTO events_store (event_id, event_type, event_version, schema_id, aggregate_type,
        aggregate_id, aggregate_version, occurred_at, correlation_id, actor, payload)
    SELECT gen_random_uuid(), 'user.registered', 1, 'urn:aequatio:event:user.registered:v1',
        'user', gen_random_uuid(), 1, now(), gen_random_uuid(), 'test', '{}'::jsonb
    FROM generate_series(1, $1)
    RETURNING position
)
INSERT INTO events_outbox (position, published_at)
SELECT position, CASE WHEN $2 THEN now() END FROM events
"""


def _rows_read_from(plan: dict[str, Any], relation: str) -> int:
    """Rows the plan's scans of ``relation`` returned, over all their loops."""
    own = plan["Actual Rows"] * plan["Actual Loops"] if plan.get("Relation Name") == relation else 0
    return own + sum(_rows_read_from(child, relation) for child in plan.get("Plans", []))


async def _claim_explained(
    connection: asyncpg.Connection, batch: int
) -> tuple[dict[str, Any], list[asyncpg.Record]]:
    """The claim's plan as it ran, and its rows, planned as the dispatcher plans it."""
    sql = str(CLAIM.compile(dialect=postgresql.asyncpg.dialect()))  # type: ignore[no-untyped-call]
    async with connection.transaction():
        await connection.execute(CLAIM_PLANNING.text)
        explained = await connection.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, [], batch)
        claimed = await connection.fetch(sql, [], batch)
    return json.loads(explained)[0]["Plan"], claimed


def _index_scans_of(plan: dict[str, Any], relation: str) -> list[str | None]:
    """The index each scan of ``relation`` in the plan reads (None: not an index scan)."""
    own = [plan.get("Index Name")] if plan.get("Relation Name") == relation else []
    return own + [
        name for child in plan.get("Plans", []) for name in _index_scans_of(child, relation)
    ]


def _assert_reads_its_batch_only(
    plan: dict[str, Any], claimed: list[asyncpg.Record], batch: int
) -> None:
    assert len(claimed) == batch
    assert [row["position"] for row in claimed] == sorted(row["position"] for row in claimed)
    assert _rows_read_from(plan, "events_store") == batch
    assert _index_scans_of(plan, "events_outbox") == ["ix_events_outbox_unpublished"]


@pytest.fixture
async def connection(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        yield connection
    finally:
        await connection.close()


async def test_a_claim_reads_only_its_batch_after_statistics_of_an_all_published_outbox(
    connection: asyncpg.Connection,
) -> None:
    batch = DispatcherSettings().batch_size
    await connection.execute(APPEND, 1_000, True)
    await connection.execute("ANALYZE events_outbox")  # nothing unpublished, they say
    await connection.execute("ANALYZE events_store")
    await connection.execute(APPEND, 10 * batch, False)

    _assert_reads_its_batch_only(*await _claim_explained(connection, batch), batch)


async def test_a_claim_reads_only_its_batch_from_a_never_analyzed_outbox(
    connection: asyncpg.Connection,
) -> None:
    batch = DispatcherSettings().batch_size
    await connection.execute(APPEND, 1_000, True)
    await connection.execute(APPEND, 10 * batch, False)

    _assert_reads_its_batch_only(*await _claim_explained(connection, batch), batch)


async def test_a_claim_after_thousands_of_published_events_reads_only_its_batch(
    connection: asyncpg.Connection,
) -> None:
    batch = DispatcherSettings().batch_size
    await connection.execute(APPEND, 3_000, True)
    await connection.execute("VACUUM ANALYZE events_outbox")
    await connection.execute(APPEND, 4 * batch, False)
    await connection.execute("ANALYZE events_outbox")
    await connection.execute("ANALYZE events_store")

    _assert_reads_its_batch_only(*await _claim_explained(connection, batch), batch)

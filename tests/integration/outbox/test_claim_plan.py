"""The dispatcher's claim joins and serializes its batch only, not the backlog.

Autovacuum analyzes the outbox in its usual state, everything published; when a backlog
builds up (the broker was away), those statistics must not make the claim join and serialize
the whole backlog to keep one batch of it. (With *no* statistics at all, the claim's one-join
form does: a finding for the next change of it, see issue 7's notes.)
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg
from sqlalchemy.dialects import postgresql

from aequatio.outbox.dispatcher import CLAIM, DispatcherSettings

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


async def test_a_claim_reads_only_its_batch_from_the_event_store(database_url: str) -> None:
    batch = DispatcherSettings().batch_size
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await connection.execute(APPEND, 1_000, True)
        await connection.execute("ANALYZE events_outbox")  # nothing unpublished, they say
        await connection.execute("ANALYZE events_store")
        await connection.execute(APPEND, 10 * batch, False)
        sql = str(CLAIM.compile(dialect=postgresql.asyncpg.dialect()))  # type: ignore[no-untyped-call]
        explained = await connection.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, [], batch)
        claimed = await connection.fetch(sql, [], batch)
    finally:
        await connection.close()

    plan = json.loads(explained)[0]["Plan"]
    assert len(claimed) == batch
    assert [row["position"] for row in claimed] == sorted(row["position"] for row in claimed)
    assert _rows_read_from(plan, "events_store") == batch

"""At a replay's swap, a consumer's live tracking rows made equal to its rebuild's by difference.

The swap runs while live appliers wait for it (the projection's advisory lock, held
exclusively). Replacing the consumer's rows wholesale (delete them all, insert the rebuild's)
rewrote every row and both indexes of each: about 1.5 s per 100,000 events, some 15 s of
stopped consumption at a million. But the live consumer tracked the same events the rebuild
did, nearly always all of them, so the rows that differ are few: a live row the rebuild lacks
(an event the live consumer applied that the rebuild does not count as applied), a rebuild
row the live table lacks (an event the live consumer never applied, say one it dead-lettered
before the fix the replay is for), a stream standing at another version. Anti-joins find the
missing and extra rows, a join the streams at another version (hash joins, one scan of each
side); only those rows are written.

A tracking row's other columns come from the event itself (its type, aggregate, version and
store position), the same on both sides; a row both sides have keeps its live ``applied_at``,
when the event first took effect.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from aequatio.projections.tables import READ_SCHEMA

_STATEMENTS = (
    # processed_events: drop what the rebuild did not apply, add what only it applied.
    """
    DELETE FROM {live}.processed_events AS l
    WHERE l.consumer = :consumer AND NOT EXISTS (
        SELECT FROM {rebuilt}.processed_events AS r
        WHERE r.consumer = :consumer AND r.event_id = l.event_id)
    """,
    """
    INSERT INTO {live}.processed_events
        (consumer, event_id, event_type, aggregate_id, aggregate_version, position, applied_at)
    SELECT r.consumer, r.event_id, r.event_type, r.aggregate_id, r.aggregate_version,
        r.position, r.applied_at
    FROM {rebuilt}.processed_events AS r
    WHERE r.consumer = :consumer AND NOT EXISTS (
        SELECT FROM {live}.processed_events AS l
        WHERE l.consumer = :consumer AND l.event_id = r.event_id)
    """,
    # stream_positions: the same, and a stream at another version takes the rebuild's.
    """
    DELETE FROM {live}.stream_positions AS l
    WHERE l.consumer = :consumer AND NOT EXISTS (
        SELECT FROM {rebuilt}.stream_positions AS r
        WHERE r.consumer = :consumer AND r.aggregate_id = l.aggregate_id)
    """,
    """
    UPDATE {live}.stream_positions AS l SET version = r.version
    FROM {rebuilt}.stream_positions AS r
    WHERE l.consumer = :consumer AND r.consumer = :consumer
        AND r.aggregate_id = l.aggregate_id AND r.version <> l.version
    """,
    """
    INSERT INTO {live}.stream_positions (consumer, aggregate_id, version)
    SELECT r.consumer, r.aggregate_id, r.version
    FROM {rebuilt}.stream_positions AS r
    WHERE r.consumer = :consumer AND NOT EXISTS (
        SELECT FROM {live}.stream_positions AS l
        WHERE l.consumer = :consumer AND l.aggregate_id = r.aggregate_id)
    """,
)


async def sync_tracking(connection: AsyncConnection, consumer: str, rebuilt_schema: str) -> int:
    """Make ``consumer``'s rows in the live tracking tables equal to those in
    ``rebuilt_schema``; how many rows were written (deleted, updated or inserted)."""
    written = 0
    for statement in _STATEMENTS:
        result = await connection.execute(
            text(statement.format(live=f'"{READ_SCHEMA}"', rebuilt=f'"{rebuilt_schema}"')),
            {"consumer": consumer},
        )
        written += max(result.rowcount, 0)
    return written

"""New identifiers for aggregates and events: UUIDv7 (RFC 9562), ordered by creation time.

Every id is a B-tree key many times over: the event store's ``event_id``, each consumer's
tracking rows (``processed_events``, ``stream_positions``), the read tables' primary keys.
Random (v4) ids put each insert on a random leaf page of every one of those indexes, so once
they outgrow the buffer cache each insert reads and dirties pages nobody else needs, and every
page first touched after a checkpoint is written whole to the WAL. Time-ordered ids put new
keys next to each other at the right edge. Measured on 1,000,000-row tracking tables (insert
then advance 300 new streams, as a consumer's batch does): 11-13 ms instead of 16-20 ms.

The millisecond of creation is readable in a v7 id; aequatio shows when things were created
anyway (``createdAt``, the events' ``occurred_at``), so it reveals nothing new.
"""

from __future__ import annotations

from uuid import UUID

from uuid_utils.compat import uuid7


def new_id() -> UUID:
    """A fresh, time-ordered id (a standard ``uuid.UUID``)."""
    return uuid7()

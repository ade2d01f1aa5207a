"""Rebuilding a projection from the event store without stopping queries or live consumption.

1. **Build.** A schema ``read_rebuild_<name>`` gets empty copies of the projection's tables and
   of the tracking tables (``CREATE TABLE ... (LIKE read.x INCLUDING ALL)``). Every event the
   projection listens to is applied there in event-store order, a page at a time, through the
   same ``apply_all`` as live consumption (the connection translates schema ``read`` to the rebuild
   schema). Queries keep reading the live tables; the live consumer keeps applying to them.
2. **Catch-up**, live consumption still going on: the events committed during the build
   (everything the rebuild has not tracked) are applied to the rebuild.
3. **Swap**, in one transaction holding the projection's advisory lock exclusively (live
   appliers hold it shared per transaction, so they pause meanwhile: the log line says how
   long): apply the events the live consumer applied since that the rebuild has not (the two
   tracking tables compared), replace the live tables by the rebuilt ones (renaming indexes
   and constraints back to their migrated names), and replace the consumer's partitions of the
   tracking tables by the rebuild's tracking tables (:func:`_swap_tracking`). Live consumption
   then goes on against the new tables: an event the rebuild has tracked is skipped, any other
   applied. Nothing is lost, nothing applied twice.

Besides that last catch-up, every step of the swap changes the catalog, not rows: its pause
does not grow with the history.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import re
import time
from collections.abc import AsyncGenerator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Row,
    Select,
    Uuid,
    and_,
    func,
    select,
    text,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from aequatio.events.base import EventPayload
from aequatio.events.envelope import Envelope
from aequatio.events.registry import EventRegistry
from aequatio.persistence.event_store import ROW_JSON, envelope_of_json
from aequatio.persistence.tables import events_store
from aequatio.projections.base import Projection
from aequatio.projections.runner import apply_all, projection_lock_key
from aequatio.projections.tables import (
    READ_SCHEMA,
    TRACKING_TABLES,
    processed_events,
    stream_positions,
    tracking_partition,
)

log = logging.getLogger(__name__)

BATCH = 1000
#: Rows decoded between two yields to the event loop: a page's statements go on meanwhile.
_DECODE_SLICE = 250


#: A transaction's statements planned for the tables as they are now. The rebuild tables start
#: empty and are never analyzed while they fill: a plan cached early (a prepared statement's
#: generic plan) kept scanning the whole of ``stream_positions`` to advance a page's streams,
#: each page slower than the last (18 ms a page at the start, 82 ms after 300,000 events).
#: Planning costs well under a millisecond a statement, for a thousand events.
_PLAN_AFRESH = text("SET LOCAL plan_cache_mode = force_custom_plan")


@dataclass(frozen=True, slots=True)
class ReplayReport:
    projection: str
    built: int
    caught_up: int
    #: How long live appliers of the projection waited for the swap, in seconds.
    paused: float = 0.0


def rebuild_schema(projection: Projection) -> str:
    return f"read_rebuild_{projection.name}"


async def replay(
    engine: AsyncEngine, projection: Projection, registry: EventRegistry
) -> ReplayReport:
    schema = rebuild_schema(projection)
    async with engine.begin() as connection:
        await _prepare(connection, schema, projection)
    began = time.perf_counter()
    with _collecting_less():
        built = await _build(engine, projection, registry, schema)
        await _ready_to_attach(engine, schema, projection.consumer)
        async with engine.begin() as connection:
            await connection.execute(_PLAN_AFRESH)
            caught_up = await _catch_up(connection, projection, registry, schema, _late(projection))
        built_at = time.perf_counter()
        async with engine.begin() as connection:
            await connection.execute(
                select(func.pg_advisory_xact_lock(projection_lock_key(projection)))
            )
            locked_at = time.perf_counter()
            await connection.execute(_PLAN_AFRESH)
            caught_up += await _catch_up(
                connection, projection, registry, schema, _applied_live(projection, schema)
            )
            swapped_at = time.perf_counter()
            await _swap(connection, projection, schema)
            paused = time.perf_counter() - locked_at
    log.info(
        "replayed %s: %d events built in %.1fs, %d caught up at the swap; live appliers "
        "waited %.2fs for the swap (%.2fs catching up, %.2fs swapping)",
        projection.name,
        built,
        built_at - began,
        caught_up,
        paused,
        swapped_at - locked_at,
        paused - (swapped_at - locked_at),
    )
    return ReplayReport(projection.name, built, caught_up, paused)


#: How full the rebuild's ``stream_positions`` pages are filled by inserts. A page's streams
#: are inserted (by the tracking) and then advanced (an update of each, the same transaction):
#: with room left on their page, the update is a heap-only tuple, where on a full page it
#: writes a new entry in the primary key for every stream (9 ms a page against 6 in the lab).
_ROOMY = 50


async def _prepare(connection: AsyncConnection, schema: str, projection: Projection) -> None:
    """Empty copies of the projection's tables in ``schema``, with their indexes, and of the
    tracking tables: ``stream_positions`` with its primary key (the tracking upserts on it),
    ``processed_events`` with none yet (see :func:`_ready_to_attach`)."""
    await connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    for table in (*projection.tables, *TRACKING_TABLES):
        copied = "INCLUDING DEFAULTS" if table in TRACKING_TABLES else "INCLUDING ALL"
        await connection.execute(
            text(
                f'CREATE TABLE "{schema}"."{table.name}" '
                f'(LIKE "{READ_SCHEMA}"."{table.name}" {copied})'
            )
        )
    streams = f'"{schema}"."{stream_positions.name}"'
    partition = tracking_partition(stream_positions, projection.consumer)
    await connection.execute(
        text(
            f'ALTER TABLE {streams} ADD CONSTRAINT "{partition}_pkey" '
            "PRIMARY KEY (consumer, aggregate_id)"
        )
    )
    await connection.execute(text(f"ALTER TABLE {streams} SET (fillfactor = {_ROOMY})"))


async def _ready_to_attach(engine: AsyncEngine, schema: str, consumer: str) -> None:
    """Give the rebuild's tracking tables what attaching them as ``consumer``'s partitions needs
    at the swap, built now, while live consumption goes on: the indexes of the partitioned
    tables (attached as they are: none is built at the swap), and a check that every row is
    ``consumer``'s (attaching trusts it instead of scanning the rows).

    ``processed_events`` gets its indexes only now, that all its rows are written: the build
    writes a tracking row per event, each event once (no conflict to detect), and maintaining
    the indexes row by row (random event ids) was PostgreSQL's largest cost per event; one sort
    at the end costs a fraction of that. The catch-up, which looks events up in it and may meet
    a redelivery, runs after.
    """
    processed = tracking_partition(processed_events, consumer)
    statements = [
        f'ALTER TABLE "{schema}".processed_events ADD CONSTRAINT "{processed}_pkey" '
        "PRIMARY KEY (consumer, event_id)",
        f'CREATE INDEX "{processed}_position" ON "{schema}".processed_events (consumer, position)',
    ]
    for table in TRACKING_TABLES:
        statements.append(
            f'ALTER TABLE "{schema}"."{table.name}" ADD CONSTRAINT '
            f'"{tracking_partition(table, consumer)}_consumer" '
            f"CHECK (consumer = {_literal(consumer)})"
        )
    async with engine.begin() as connection:
        for statement in statements:
            await connection.execute(text(statement))


def _literal(value: str) -> str:
    """``value`` as an SQL string literal (a partition bound cannot be a parameter)."""
    return "'" + value.replace("'", "''") + "'"


async def _translated(connection: AsyncConnection, schema: str) -> AsyncConnection:
    await connection.execution_options(schema_translate_map={READ_SCHEMA: schema})
    return connection


def _events_of(projection: Projection, registry: EventRegistry) -> object:
    return events_store.c.event_type.in_(projection.event_types(registry))


def _page_after(event_types: Sequence[str], after: int) -> Select[Any]:
    """The next page of events of ``event_types`` after position ``after``, in position order.

    One index range per type (``(event_type, position)``), merged in position order (a Merge
    Append reading only the page): whatever the statistics say, a page costs its own size.
    ``event_type IN (...) AND position > after`` was planned (with no statistics yet, as after
    a bulk load) as a bitmap scan of the *whole rest* of the history sorted for its top 1,000,
    every page: a replay quadratic in the history's length.
    """
    branches = [
        _stored(events_store.c.event_type == event_type)
        .where(events_store.c.position > after)
        .order_by(events_store.c.position)
        .limit(BATCH)
        for event_type in sorted(set(event_types))
    ]
    if len(branches) == 1:
        return branches[0]
    merged = union_all(*branches).subquery("page")
    return select(merged).order_by(merged.c.position).limit(BATCH)


@dataclass(frozen=True, slots=True)
class _Page:
    """Stored events, validated: their positions, envelopes and payloads."""

    positions: list[int]
    envelopes: list[Envelope]
    payloads: list[EventPayload]


def _stored(condition: Any) -> Select[Any]:
    return select(events_store.c.position, ROW_JSON).where(condition)


@contextlib.contextmanager
def _collecting_less() -> Iterator[None]:
    """The cyclic garbage collector run less often while a replay runs (restored after).

    A page makes tens of objects per event (envelope, payload models, rows) that all live
    until the page is applied: at the default thresholds the collector scanned them again
    and again, with a full collection of the whole heap every few thousand events, about a
    third of the replay's CPU (in a profile of 100,000 events: 147 us per event with no
    collection at all, 221 with the defaults, 162 with these). Reference counting frees the
    pages as before; only cycles wait a little longer.
    """
    thresholds = gc.get_threshold()
    gc.set_threshold(max(thresholds[0], 100_000), max(thresholds[1], 20), max(thresholds[2], 100))
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


async def _decode(rows: Sequence[Row[Any]], registry: EventRegistry) -> _Page:
    """Validate a page (the envelope of each row's JSON, then its payload), yielding to the
    event loop now and then so that the statements of the page before go on meanwhile."""
    page = _Page([], [], [])
    for start in range(0, len(rows), _DECODE_SLICE):
        if start:
            await asyncio.sleep(0)
        for row in rows[start : start + _DECODE_SLICE]:
            envelope = envelope_of_json(row.row_json)
            payload = registry.payload_of(envelope)
            page.positions.append(row.position)
            page.envelopes.append(envelope)
            page.payloads.append(payload)
    return page


async def _release(page: _Page) -> None:
    """Free an applied page's events a slice at a time, yielding to the event loop between
    slices: done by the read-ahead while the next page's statements run, instead of all at once
    between two pages (a sixth of the replay's Python time in py-spy, 150,000 events)."""
    for events in (page.envelopes, page.payloads):
        while events:
            del events[-_DECODE_SLICE:]
            await asyncio.sleep(0)


async def _build(
    engine: AsyncEngine, projection: Projection, registry: EventRegistry, schema: str
) -> int:
    """Apply the whole history a page at a time, each page in its own transaction; the next
    page is read (on another connection) and validated while one is applied."""
    applied = pages_applied = 0
    pages = _pages(engine, projection.event_types(registry), registry)
    async with contextlib.aclosing(pages):
        async for page in pages:
            async with engine.begin() as connection:
                await connection.execute(_PLAN_AFRESH)
                target = await _translated(connection, schema)
                await _apply_page(target, projection, registry, page)
            applied += len(page.positions)
            pages_applied += 1
            if pages_applied in _ANALYZED_AFTER:
                await _analyze(engine, schema, projection)
    return applied


#: The pages after which the rebuild's tables are analyzed: statistics as they fill up.
_ANALYZED_AFTER = frozenset(4**power for power in range(12))


async def _analyze(engine: AsyncEngine, schema: str, projection: Projection) -> None:
    """Give the planner statistics of the rebuild's tables (``ANALYZE`` samples a bounded number
    of rows: milliseconds, whatever their size), after pages 1, 4, 16, 64...

    Never analyzed (autovacuum analyzes a table a minute or more after it changed), a table
    is planned with default selectivities: ``consumer = :consumer`` is guessed to match half a
    percent of ``stream_positions`` where it matches every row, and advancing a page's streams
    hashed the whole table for every page (120 ms a page at 300,000 events, a replay
    quadratic in the history) instead of probing the primary key a thousand times (7 ms).
    """
    async with engine.connect() as connection:
        for table in (*projection.tables, *TRACKING_TABLES):
            await connection.execute(text(f'ANALYZE "{schema}"."{table.name}"'))
        await connection.commit()


async def _pages(
    engine: AsyncEngine, event_types: Sequence[str], registry: EventRegistry
) -> AsyncGenerator[_Page, None]:
    """The events of ``event_types`` in position order, a page at a time (keyset pagination
    on the position), each page read and validated while the caller applies the one before.
    An invalid event fails the page it is in, once the pages before it applied."""

    async def page(after: int, applied: _Page | None) -> _Page:
        if applied is not None:
            await _release(applied)
        if not event_types:
            return _Page([], [], [])
        async with engine.connect() as connection:
            rows = (await connection.execute(_page_after(event_types, after))).all()
        return await _decode(rows, registry)

    following = asyncio.ensure_future(page(0, None))
    applied: _Page | None = None
    try:
        while (current := await following).positions:
            # The page before ``current`` is applied by now: the read-ahead frees it.
            following = asyncio.ensure_future(page(current.positions[-1], applied))
            applied = current
            yield current
    finally:
        # Stopped early (the caller failed, or was cancelled): the page read ahead is dropped,
        # and so is its own error, if it had one (the caller's is the one that counts).
        following.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await following


async def _catch_up(
    connection: AsyncConnection,
    projection: Projection,
    registry: EventRegistry,
    schema: str,
    missed: Any,
) -> int:
    """Apply the stored events ``missed`` selects (a condition on ``events_store``), in position
    order, to the rebuild; how many there were."""
    target = await _translated(connection, schema)
    rows = (
        await target.execute(
            _stored(_events_of(projection, registry))
            .where(missed)
            .order_by(events_store.c.position)
        )
    ).all()
    for start in range(0, len(rows), BATCH):
        page = await _decode(rows[start : start + BATCH], registry)
        await _apply_page(target, projection, registry, page)
    return len(rows)


def _late(projection: Projection) -> Any:
    """The events the rebuild has not tracked: those committed during the build, applied
    before the swap while live consumption goes on (the whole history is compared).

    The anti-join reads the rebuild's tracking table (the connection translates ``read``), so
    an event committed late with an early position is found as surely as a new one.
    """
    return ~(
        select(processed_events.c.event_id)
        .where(
            and_(
                processed_events.c.consumer == projection.consumer,
                processed_events.c.event_id == events_store.c.event_id,
            )
        )
        .exists()
    )


def _applied_live(projection: Projection, schema: str) -> Any:
    """At the swap, the events the live consumer applied that the rebuild has not: those
    committed since the catch-up before it (live appliers are stopped by then).

    The two tracking tables are compared, not the history: an event committed since that
    the live consumer has not applied yet is delivered to it after the swap, and applied to
    the new tables (the rebuild has not tracked it either). The swap's pause does not grow
    with the event store.
    """
    live = f'"{READ_SCHEMA}".processed_events'
    rebuilt = f'"{schema}".processed_events'
    applied = (
        text(
            f"SELECT l.event_id FROM {live} AS l WHERE l.consumer = :consumer "  # noqa: S608 - our names
            f"AND NOT EXISTS (SELECT FROM {rebuilt} AS r "
            "WHERE r.consumer = :consumer AND r.event_id = l.event_id)"
        )
        .bindparams(consumer=projection.consumer)
        .columns(event_id=Uuid)
        .subquery("applied_live")
    )
    return events_store.c.event_id.in_(select(applied.c.event_id))


async def _apply_page(
    connection: AsyncConnection, projection: Projection, registry: EventRegistry, page: _Page
) -> None:
    """Apply a page of stored events with one round of tracking (as a live batch is)."""
    await apply_all(
        connection,
        projection.consumer,
        page.envelopes,
        registry,
        projection.apply_many,
        positions=page.positions,
        payloads=page.payloads,
    )


async def _swap(connection: AsyncConnection, projection: Projection, schema: str) -> None:
    await connection.execution_options(schema_translate_map=None)
    for table in projection.tables:
        live, rebuilt = f'"{READ_SCHEMA}"."{table.name}"', f'"{schema}"."{table.name}"'
        names = await _index_names(connection, READ_SCHEMA, table.name)
        grants = await _grants(connection, live)
        await connection.execute(text(f"DROP TABLE {live}"))
        await connection.execute(text(f"ALTER TABLE {rebuilt} SET SCHEMA {READ_SCHEMA}"))
        await _restore_index_names(connection, table.name, names)
        for grant in grants:
            await connection.execute(text(grant.replace("{table}", live)))
    await _swap_tracking(connection, projection.consumer, schema)
    await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


async def _swap_tracking(connection: AsyncConnection, consumer: str, schema: str) -> None:
    """Replace ``consumer``'s partition of each tracking table by the rebuild's table.

    Dropping the live partition locks the whole tracking table until the swap commits (every
    consumer waits: milliseconds, the swap's remaining statements are catalog changes). A
    consumer no migration gave a partition has its rows in the default partition: they are
    deleted there (as long as they are many, once), and it has a partition from then on.
    The tracking rows are the rebuild's, ``applied_at`` included: when the rebuilt projection
    applied the event. The new partition gets the grants the old one had (those of the
    partitioned table when there was none).
    """
    for table in TRACKING_TABLES:
        live = f'"{READ_SCHEMA}"."{table.name}"'
        partition = tracking_partition(table, consumer)
        current = await _partition_of(connection, table.name, consumer)
        if current is None:
            grants = await _grants(connection, live)
            await connection.execute(
                text(f"DELETE FROM {live} WHERE consumer = :consumer"),  # noqa: S608 - our names
                {"consumer": consumer},
            )
        else:
            grants = await _grants(connection, f'"{READ_SCHEMA}"."{current}"')
            await connection.execute(text(f'DROP TABLE "{READ_SCHEMA}"."{current}"'))
        await connection.execute(
            text(f'ALTER TABLE "{schema}"."{table.name}" RENAME TO "{partition}"')
        )
        await connection.execute(
            text(f'ALTER TABLE "{schema}"."{partition}" SET SCHEMA "{READ_SCHEMA}"')
        )
        attached = f'"{READ_SCHEMA}"."{partition}"'
        bound = _literal(consumer)
        await connection.execute(
            text(f"ALTER TABLE {live} ATTACH PARTITION {attached} FOR VALUES IN ({bound})")
        )
        await connection.execute(
            text(f'ALTER TABLE {attached} DROP CONSTRAINT "{partition}_consumer"')
        )
        for grant in grants:
            await connection.execute(text(grant.replace("{table}", attached)))


async def _partition_of(connection: AsyncConnection, table: str, consumer: str) -> str | None:
    """The name of ``consumer``'s own partition of ``read.<table>``, if it has one."""
    partition: str | None = (
        await connection.execute(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = CAST(:parent AS regclass) "
                "AND pg_get_expr(c.relpartbound, c.oid) "
                "= format('FOR VALUES IN (%L)', CAST(:consumer AS text))"
            ),
            {"parent": f'"{READ_SCHEMA}"."{table}"', "consumer": consumer},
        )
    ).scalar_one_or_none()
    return partition


async def _grants(connection: AsyncConnection, table: str) -> list[str]:
    """The GRANTs that give others what they hold on ``table`` (``{table}`` to fill in): a
    table built elsewhere and moved in keeps none of them, and least-privilege roles (the
    writer that applies projections, the API's reader) would lose access at the swap."""
    rows = await connection.execute(
        text(
            "SELECT a.privilege_type, a.is_grantable, "
            "CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END "
            "FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a "
            "LEFT JOIN pg_roles r ON r.oid = a.grantee "
            "WHERE c.oid = CAST(:table AS regclass) AND a.grantee <> c.relowner"
        ),
        {"table": table},
    )
    return [
        f"GRANT {privilege} ON {{table}} TO {grantee}" + (" WITH GRANT OPTION" if grantable else "")
        for privilege, grantable, grantee in rows
    ]


_INDEX_NAME = re.compile(r"^CREATE (UNIQUE )?INDEX (\S+) ON (\S+) ")


async def _index_names(connection: AsyncConnection, schema: str, table: str) -> dict[str, str]:
    """Index definition (with name and schema removed) -> index name."""
    rows = await connection.execute(
        text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = :s AND tablename = :t"),
        {"s": schema, "t": table},
    )
    return {_INDEX_NAME.sub(r"CREATE \1INDEX ON ", definition): name for name, definition in rows}


async def _restore_index_names(
    connection: AsyncConnection, table: str, original: dict[str, str]
) -> None:
    """Give the rebuilt table's indexes (and their constraints) their migrated names back."""
    for definition, name in (await _index_names(connection, READ_SCHEMA, table)).items():
        wanted = original.get(definition)
        if wanted and wanted != name:
            await connection.execute(
                text(f'ALTER INDEX "{READ_SCHEMA}"."{name}" RENAME TO "{wanted}"')
            )

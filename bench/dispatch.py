"""The read side's throughput: the outbox dispatcher draining a backlog next to a raw aiormq
publisher, then the projections consuming what it published.

* **raw publisher**: the message the dispatcher would send for one of the backlog's events
  (same body, headers, properties, routing key, exchange, bound queues), ``backlog`` times,
  pipelined: batches of 500 (the dispatcher's batch) written back to back, then all confirms
  awaited. The queues are purged afterwards.
* **dispatcher**: ``aequatio worker --role dispatcher`` is started and holds its lock; then the
  backlog (valid ``expense.created`` events with their outbox rows) is committed in one
  transaction; the rate is the backlog over (last ``published_at`` - commit), both by the
  database clock.
* **projections**: ``aequatio worker --role projections`` consumes the published backlog for
  ``projection_seconds``; the rate per consumer is its tracking rows over that window.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import aiormq
import asyncpg
from pamqp import commands as spec
from pamqp.common import FieldTable

from aequatio.events.catalog import EVENTS
from aequatio.outbox.codec import to_message
from aequatio.persistence.event_store import envelope_of
from aequatio.workers import topology
from bench.context import Run
from bench.fixtures import COPY_EXPENSES, FIRST_YEAR, MONTHS
from bench.stack import Service

BATCH = 500


async def _sample_message(run: Run, event_id: str) -> Any:
    connection = await asyncpg.connect(run.stack.dsn)
    try:
        row = await connection.fetchrow(
            "SELECT * FROM events_store WHERE event_id = $1", uuid.UUID(event_id)
        )
    finally:
        await connection.close()
    if row is None:
        raise RuntimeError(f"no event {event_id}")
    fields = dict(row)
    fields["payload"] = json.loads(fields["payload"])
    return to_message(envelope_of(fields), EVENTS)


async def raw_publisher(run: Run, event_id: str, count: int) -> float:
    """Messages per second through aiormq alone, confirms pipelined in batches of 500."""
    message = await _sample_message(run, event_id)
    properties = spec.Basic.Properties(
        delivery_mode=2,
        content_type=message.content_type,
        message_id=message.message_id,
        headers=FieldTable({k: v for k, v in message.headers.items() if v is not None}),
        app_id="aequatio",
    )
    connection = await aiormq.connect(run.stack.amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        began = time.perf_counter()
        for offset in range(0, count, BATCH):
            batch = [
                asyncio.create_task(
                    channel.basic_publish(
                        message.body,
                        exchange=message.exchange,
                        routing_key=message.routing_key,
                        mandatory=True,
                        properties=properties,
                    )
                )
                for _ in range(min(BATCH, count - offset))
            ]
            confirms = await asyncio.gather(*batch)
            if not all(isinstance(c, spec.Basic.Ack) for c in confirms):
                raise RuntimeError("the broker did not confirm every raw publish")
        elapsed = time.perf_counter() - began
    finally:
        await connection.close()
    return count / elapsed


async def purge_queues(run: Run) -> int:
    """Empty every consumer queue (and dead-letter queue) of the topology."""
    connection = await aiormq.connect(run.stack.amqp_url)
    purged = 0
    try:
        channel = await connection.channel()
        for queue in topology().queues:
            for name in (queue.name, queue.dead_letter_queue):
                result = await channel.queue_purge(name)
                purged += int(getattr(result, "message_count", 0) or 0)
    finally:
        await connection.close()
    return purged


async def ready_messages(run: Run) -> int:
    """Messages ready (not yet delivered) in the consumer queues of the topology."""
    connection = await aiormq.connect(run.stack.amqp_url)
    ready = 0
    try:
        channel = await connection.channel()
        for queue in topology().queues:
            declared = await channel.queue_declare(queue.name, passive=True)
            ready += int(getattr(declared, "message_count", 0) or 0)
    finally:
        await connection.close()
    return ready


async def _dispatcher_leads(run: Run, dispatcher: Service, within: float = 60) -> None:
    """Until a session advisory lock is held in the database (only the dispatcher takes one)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        dispatcher.require_running()
        held = await run.sql(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database()"
        )
        if held:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("the dispatcher did not take its lock")


async def database_now(connection: asyncpg.Connection) -> float:
    """The database clock, in epoch seconds (a drain is timed on it at both ends)."""
    return float(await connection.fetchval("SELECT extract(epoch FROM clock_timestamp())"))


async def drained(
    connection: asyncpg.Connection,
    *,
    within: float,
    check: Callable[[], None] = lambda: None,
    every: float = 0.1,
) -> float:
    """Once nothing is left unpublished, the last ``published_at`` (epoch seconds, database
    clock). Polls a count on the partial index of unpublished rows (cheap beside the drain it
    watches), calling ``check`` between polls; fails after ``within`` seconds."""
    deadline = time.monotonic() + within
    pending = None
    while time.monotonic() < deadline:
        pending = await connection.fetchval(
            "SELECT count(*) FROM events_outbox WHERE published_at IS NULL"
        )
        if pending == 0:
            return float(
                await connection.fetchval(
                    "SELECT extract(epoch FROM max(published_at)) FROM events_outbox"
                )
            )
        check()
        await asyncio.sleep(every)
    raise RuntimeError(f"the dispatcher left {pending} events unpublished")


async def dispatcher_and_projections(run: Run) -> None:
    stack, profile = run.stack, run.profile
    template = run.templates["bulk"]
    count = profile.backlog
    # Nothing unpublished may be left from earlier phases: the backlog is all there is.
    await run.sql("UPDATE events_outbox SET published_at = now() WHERE published_at IS NULL")
    dispatcher = await stack.worker("dispatcher")
    try:
        await _dispatcher_leads(run, dispatcher)
        await purge_queues(run)
        run.log(f"dispatcher: raw aiormq publisher, {count:,} messages")
        raw_rate = await raw_publisher(run, template, count)
        await purge_queues(run)
        run.log(f"  {raw_rate:,.0f} msg/s; committing a backlog of {count:,} events")
        connection = await asyncpg.connect(stack.dsn)
        try:
            async with connection.transaction():
                await connection.execute(
                    # A constant of ours, no input in it.
                    "WITH copied AS (" + COPY_EXPENSES + ") "  # noqa: S608
                    "INSERT INTO events_outbox (position) SELECT position FROM copied",
                    uuid.UUID(template),
                    0,
                    count,
                    MONTHS,
                    FIRST_YEAR,
                )
            committed = await database_now(connection)
            last = await drained(
                connection, within=max(120.0, count / 200), check=dispatcher.require_running
            )
        finally:
            await connection.close()
    finally:
        stack.stop(dispatcher)
    rate = count / (last - committed)
    run.results["dispatcher"] = {
        "backlog": count,
        "dispatcher_events_per_s": round(rate, 1),
        "raw_aiormq_confirmed_msgs_per_s": round(raw_rate, 1),
        "seconds": round(last - committed, 2),
    }
    run.log(f"  dispatcher {rate:,.0f} events/s")
    await projections(run)


async def projections(run: Run) -> None:
    """Per consumer: events applied per second from the published backlog."""
    stack = run.stack
    worker = await stack.worker("projections")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            worker.require_running()
            started = await run.sql(
                "SELECT count(*) FROM read.processed_events "
                "WHERE applied_at > now() - interval '5 s'"
            )
            if started:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # every consumer attached and warm
        window_start = float(await run.sql("SELECT extract(epoch FROM clock_timestamp())"))
        await asyncio.sleep(run.profile.projection_seconds)
        window_end = float(await run.sql("SELECT extract(epoch FROM clock_timestamp())"))
        rows = await run.sql_rows(
            "SELECT consumer, count(*) AS applied FROM read.processed_events "
            "WHERE applied_at >= to_timestamp($1) AND applied_at < to_timestamp($2) "
            "GROUP BY consumer ORDER BY consumer",
            window_start,
            window_end,
        )
    finally:
        stack.stop(worker)
    await purge_queues(run)
    seconds = window_end - window_start
    per_consumer = {row["consumer"]: round(row["applied"] / seconds, 1) for row in rows}
    run.results["projections"] = {
        "window_seconds": round(seconds, 1),
        "events_per_s_per_consumer": per_consumer,
        "events_per_s_all_consumers": round(sum(per_consumer.values()), 1),
        "process": "one `aequatio worker --role projections` process, every consumer in it",
    }
    run.log(f"  projections {per_consumer}")

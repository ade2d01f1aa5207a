"""Read-side figures on this machine, each next to its baseline in the same run.

* dispatcher: events/s draining a backlog from the outbox to RabbitMQ (publisher confirms,
  pipelined batches, marked published), next to a raw aiormq publisher sending the same bodies
  with pipelined confirms;
* lag: mutation commit -> applied by the ``balances`` projection, p50/p99, at a steady rate of
  mutations through the real command bus, with ``aequatio worker --role all`` (dispatcher and
  every projection) running as its own process, as deployed.

Uses the local PostgreSQL (a fresh database) and RabbitMQ (a fresh virtual host), both removed
afterwards. Run: ``.venv/bin/python bench/readside.py [--backlog 20000] [--rate 100]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aiormq
import asyncpg
from pamqp import commands as spec
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aequatio.application import commands
from aequatio.bootstrap import bootstrap
from aequatio.config import Settings
from aequatio.events.catalog import EVENTS
from aequatio.outbox.amqp import AmqpTransport
from aequatio.outbox.dispatcher import DispatcherSettings, OutboxDispatcher
from aequatio.outbox.topology import DOMAIN_EVENTS, Queue, Topology
from aequatio.persistence.database import migrate
from aequatio.projections.catalog import by_name
from aequatio.projections.tables import processed_events
from tests.support.family import family

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True)  # noqa: S603, S607


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def fill_backlog(database_url: str, count: int) -> bytes:
    """``count`` copies of a real event (new ids) in the event store and outbox."""
    app = bootstrap(Settings(), database_url=database_url)
    fam = await family(app.bus, "Ann", "Ben")
    await app.bus.handle(
        commands.AddExpense(
            group_id=fam.group_id,
            amount_cents=4250,
            currency="EUR",
            description="Groceries",
            incurred_on=date(2026, 1, 5),
        ),
        fam.owner.principal,
    )
    await app.aclose()
    connection = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        await connection.execute("UPDATE events_outbox SET published_at = now()")
        await connection.execute(
            """
            WITH template AS (
                SELECT * FROM events_store WHERE event_type = 'expense.created' LIMIT 1
            ), copies AS (
                INSERT INTO events_store (event_id, event_type, event_version, schema_id,
                    aggregate_type, aggregate_id, aggregate_version, occurred_at,
                    correlation_id, actor, payload)
                SELECT gen_random_uuid(), event_type, event_version, schema_id, aggregate_type,
                    gen_random_uuid(), 1, occurred_at, gen_random_uuid(), actor, payload
                FROM template, generate_series(1, $1)
                RETURNING position
            )
            INSERT INTO events_outbox (position) SELECT position FROM copies
            """,
            count,
        )
        body = await connection.fetchval(
            "SELECT payload::text FROM events_store WHERE event_type = 'expense.created' LIMIT 1"
        )
    finally:
        await connection.close()
    return str(body).encode()


async def dispatcher_rate(database_url: str, amqp_url: str, backlog: int) -> float:
    transport = AmqpTransport(amqp_url)
    await transport.start()
    sink = Queue(f"bench.sink-{uuid.uuid4().hex[:6]}", ("#",))
    await transport.declare(Topology().with_queues(sink))
    app = bootstrap(Settings(), database_url=database_url)
    dispatcher = OutboxDispatcher(app.engine, transport, EVENTS, DispatcherSettings())
    started = time.perf_counter()
    running = asyncio.create_task(dispatcher.run())
    while (await dispatcher.pending())[0] > 0:  # noqa: ASYNC110 - polls the database
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    await dispatcher.stop()
    await running
    await transport.close()
    await app.aclose()
    await _delete_queue(amqp_url, sink)
    return backlog / elapsed


async def raw_publisher_rate(amqp_url: str, body: bytes, count: int) -> float:
    """The same bodies through aiormq alone: pipelined confirms in batches of 500."""
    sink = Queue(f"bench.raw-{uuid.uuid4().hex[:6]}", ("#",))
    transport = AmqpTransport(amqp_url)
    await transport.start()
    await transport.declare(Topology().with_queues(sink))
    await transport.close()
    connection = await aiormq.connect(amqp_url)
    channel = await connection.channel(publisher_confirms=True)
    properties = spec.Basic.Properties(delivery_mode=2, content_type="application/json")
    started = time.perf_counter()
    for offset in range(0, count, 500):
        batch = [
            asyncio.create_task(
                channel.basic_publish(
                    body,
                    exchange=DOMAIN_EVENTS,
                    routing_key="expenses.expense.created",
                    mandatory=True,
                    properties=properties,
                )
            )
            for _ in range(min(500, count - offset))
        ]
        await asyncio.gather(*batch)
    elapsed = time.perf_counter() - started
    await connection.close()
    await _delete_queue(amqp_url, sink)
    return count / elapsed


async def _delete_queue(amqp_url: str, queue: Queue) -> None:
    connection = await aiormq.connect(amqp_url)
    channel = await connection.channel()
    await channel.queue_delete(queue.name)
    await channel.queue_delete(queue.dead_letter_queue)
    await connection.close()


async def lag(database_url: str, amqp_url: str, rate: float, seconds: float) -> list[float]:
    """Commit -> applied by the balances projection, for mutations at ``rate`` per second."""
    app = bootstrap(Settings(), database_url=database_url)
    # The read side runs in its own process, as deployed; this one only generates load.
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aequatio",
        "worker",
        "--role",
        "all",
        env={
            **os.environ,
            "AEQUATIO_DATABASE_URL": database_url,
            "AEQUATIO_AMQP_URL": amqp_url,
            "AEQUATIO_LOG_LEVEL": "WARNING",
        },
    )
    fam = await family(app.bus, "Ann", "Ben", "Cai")
    await _until_applied(app.engine, "projection.activity", 6)  # the worker is up and caught up
    committed: dict[uuid.UUID, datetime] = {}
    interval = 1 / rate
    started = time.perf_counter()
    for index in range(int(rate * seconds)):
        result = await app.bus.handle(
            commands.AddExpense(
                group_id=fam.group_id,
                amount_cents=100 + index,
                currency="EUR",
                description=f"expense {index}",
                incurred_on=date(2026, 1 + index % 12, 1 + index % 28),
            ),
            fam.members[index % 3].principal,
        )
        committed[result.event_ids[0]] = datetime.now(UTC)
        delay = started + (index + 1) * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    balances = by_name("balances")
    applied: dict[uuid.UUID, datetime] = {}
    while len(applied) < len(committed):
        await asyncio.sleep(0.2)
        async with app.engine.connect() as connection:
            rows = await connection.execute(
                select(processed_events.c.event_id, processed_events.c.applied_at).where(
                    processed_events.c.consumer == balances.consumer
                )
            )
            applied = {row.event_id: row.applied_at for row in rows if row.event_id in committed}
    worker.send_signal(signal.SIGTERM)
    await asyncio.wait_for(worker.wait(), timeout=60)
    await app.aclose()
    return [(applied[event] - committed[event]).total_seconds() * 1000 for event in committed]


async def _until_applied(engine: Any, consumer: str, count: int) -> None:
    query = select(processed_events.c.event_id).where(processed_events.c.consumer == consumer)
    while True:
        async with engine.connect() as connection:
            if len((await connection.execute(query)).all()) >= count:
                return
        await asyncio.sleep(0.1)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backlog", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()

    database = f"aeq_bench_{uuid.uuid4().hex[:8]}"
    vhost = f"aequatio-bench-{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN)
    await admin.execute(f'CREATE DATABASE "{database}"')
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    database_url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"
    amqp_url = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    try:
        await asyncio.to_thread(migrate, database_url)
        body = await fill_backlog(database_url, args.backlog)
        dispatched = await dispatcher_rate(database_url, amqp_url, args.backlog)
        raw = await raw_publisher_rate(amqp_url, body, args.backlog)
        lags = await lag(database_url, amqp_url, args.rate, args.seconds)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()
        rabbitmqctl("delete_vhost", vhost)
    results: dict[str, Any] = {
        "backlog_events": args.backlog,
        "dispatcher_events_per_s": round(dispatched),
        "raw_aiormq_confirmed_msgs_per_s": round(raw),
        "dispatcher_to_raw_ratio": round(dispatched / raw, 2),
        "lag_rate_per_s": args.rate,
        "lag_mutations": len(lags),
        "lag_p50_ms": round(statistics.median(lags), 1),
        "lag_p99_ms": round(percentile(lags, 0.99), 1),
    }
    print(json.dumps(results, indent=2))
    if args.output:
        args.output.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    asyncio.run(main())

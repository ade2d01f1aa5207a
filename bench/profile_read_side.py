"""Profiling the read side: where a worker's time goes under a steady load, and replay speed.

``python -m bench`` gives the headline figures; this script is for finding out *why* they are
what they are. Each mode runs on a fresh local database (and RabbitMQ virtual host), removed
afterwards:

* ``lag``: mutations at a steady rate through the real command bus (several generator tasks so
  the offered rate is reached), ``aequatio worker`` as its own process; prints the achieved
  rate, commit -> applied lag per projection (the tracking row's ``applied_at`` minus the time
  the mutation returned) and the worker's own
  ``aequatio_event_lag_seconds`` histogram (measured after the commit and the ack); with
  ``--py-spy FILE`` samples the worker and prints its top frames;
* ``replay``: ``--events`` expense events in the event store, then ``aequatio replay`` of
  chosen projections, timed, with the CPU per event of the replay process and of PostgreSQL,
  and the rate the machine's cores could give at best; ``--py-spy FILE`` samples it;
* ``top FILE``: the top frames of a raw py-spy profile taken earlier.

Run: ``.venv/bin/python bench/profile_read_side.py lag --rate 200 --seconds 20 --py-spy /tmp/w``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aiormq
import asyncpg
import httpx
import psutil
import uvloop
from pamqp import commands as spec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aequatio.application import commands
from aequatio.bootstrap import bootstrap
from aequatio.config import Settings
from aequatio.events.catalog import EVENTS
from aequatio.outbox.amqp import AmqpTransport
from aequatio.outbox.dispatcher import DispatcherSettings, OutboxDispatcher
from aequatio.outbox.topology import DOMAIN_EVENTS, Queue, Topology
from aequatio.persistence.database import migrate
from bench.context import backend_cpu
from bench.dispatch import database_now, drained
from bench.fixtures import UUID_V7
from tests.support.family import Family, family

ROOT = Path(__file__).resolve().parents[1]
ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PY_SPY = Path(sys.executable).with_name("py-spy")


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True)  # noqa: S603, S607


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


@contextlib.asynccontextmanager
async def scratch(*, broker: bool) -> AsyncIterator[tuple[str, str]]:
    """A fresh migrated database (and virtual host): ``(database_url, amqp_url)``."""
    database = f"aeq_prof_{uuid.uuid4().hex[:8]}"
    vhost = f"aequatio-prof-{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN)
    await admin.execute(f'CREATE DATABASE "{database}"')
    if broker:
        rabbitmqctl("add_vhost", vhost)
        rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    database_url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"
    try:
        await asyncio.to_thread(migrate, database_url)
        yield database_url, f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()
        if broker:
            rabbitmqctl("delete_vhost", vhost)


def start_py_spy(
    pid: int, output: Path, *, rate: int = 200, blocking: bool = False
) -> subprocess.Popen[bytes]:
    """``blocking``: pause the process for each sample (whole stacks, at a cost in speed);
    otherwise sample it running (cheap, but some stacks come out cut short)."""
    command = [str(PY_SPY), "record", "--pid", str(pid), "--format", "raw", "--rate", str(rate)]
    command += [] if blocking else ["--nonblocking"]
    command += ["--output", str(output)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603


def stop_py_spy(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    process.wait(timeout=60)


def top_frames(raw: Path, count: int = 25) -> dict[str, Any]:
    """Self and inclusive shares of the hottest functions in a py-spy ``raw`` profile."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        weight = int(samples)
        frames = [_frame_name(frame) for frame in stack.split(";")]
        total += weight
        if frames:
            own[frames[-1]] += weight
        for name in set(frames):
            inclusive[name] += weight

    def share(counter: Counter[str]) -> list[str]:
        return [f"{100 * n / max(total, 1):5.1f}% {name}" for name, n in counter.most_common(count)]

    return {"samples": total, "self": share(own), "inclusive": share(inclusive)}


def _frame_name(frame: str) -> str:
    """``function (path/to/module.py:12)`` -> ``module.py:function``."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(path).parts
    short = "/".join(parts[-2:]) if parts else path
    return f"{short}:{name}"


# -- lag ---------------------------------------------------------------------------------------


async def generate(
    app: Any, fam: Family, rate: float, seconds: float, tasks: int
) -> dict[str, Any]:
    """``rate`` mutations/s for ``seconds``, from ``tasks`` paced generators; commit times."""
    committed: dict[uuid.UUID, datetime] = {}
    total = int(rate * seconds)
    interval = tasks / rate
    began = time.perf_counter()

    async def one(offset: int) -> None:
        for step, index in enumerate(range(offset, total, tasks)):
            result = await app.bus.handle(
                commands.AddExpense(
                    group_id=fam.group_id,
                    amount_cents=100 + index,
                    currency="EUR",
                    description=f"expense {index}",
                    incurred_on=date(2026, 1 + index % 12, 1 + index % 28),
                ),
                fam.members[index % len(fam.members)].principal,
            )
            committed[result.event_ids[0]] = datetime.now(UTC)
            delay = began + offset / rate + (step + 1) * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)

    await asyncio.gather(*(one(offset) for offset in range(tasks)))
    elapsed = time.perf_counter() - began
    return {"committed": committed, "achieved_rate": round(total / elapsed, 1)}


async def applied_lags(
    database_url: str, committed: dict[uuid.UUID, datetime], consumers: Iterable[str]
) -> dict[str, dict[str, float]]:
    connection = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        results: dict[str, dict[str, float]] = {}
        for consumer in consumers:
            while True:
                rows = await connection.fetch(
                    "SELECT event_id, applied_at FROM read.processed_events WHERE consumer = $1",
                    consumer,
                )
                applied = {row["event_id"]: row["applied_at"] for row in rows}
                if all(event in applied for event in committed):
                    break
                await asyncio.sleep(0.2)
            lags = [(applied[e] - at).total_seconds() * 1000 for e, at in committed.items()]
            results[consumer] = {
                "p50_ms": round(statistics.median(lags), 1),
                "p99_ms": round(percentile(lags, 0.99), 1),
                "max_ms": round(max(lags), 1),
            }
        return results
    finally:
        await connection.close()


async def caught_up(database_url: str, consumer: str) -> None:
    """Wait until ``consumer`` applied every stored event (the worker is up and idle)."""
    connection = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        while await connection.fetchval(  # noqa: ASYNC110 - polls the database
            "SELECT count(*) FROM events_store s WHERE NOT EXISTS (SELECT 1 FROM "
            "read.processed_events p WHERE p.consumer = $1 AND p.event_id = s.event_id)",
            consumer,
        ):
            await asyncio.sleep(0.1)
    finally:
        await connection.close()


def histogram_shares(metrics: str, consumer: str) -> dict[str, float]:
    """Share of events applied within each lag bucket, from the worker's ``/metrics``."""
    buckets: dict[str, float] = {}
    prefix = "aequatio_event_lag_seconds_bucket{"
    for line in metrics.splitlines():
        if line.startswith(prefix) and f'consumer="{consumer}"' in line:
            labels, _, value = line.rpartition(" ")
            bound = labels.split('le="', 1)[1].split('"', 1)[0]
            buckets[bound] = float(value)
    total = buckets.get("+Inf", 0.0)
    return {f"<= {bound}s": round(n / total, 3) for bound, n in buckets.items() if total}


async def lag_mode(args: argparse.Namespace) -> dict[str, Any]:
    async with scratch(broker=True) as (database_url, amqp_url):
        app = bootstrap(
            Settings(database_pool_size=args.tasks + 2, database_max_overflow=5),
            database_url=database_url,
        )
        port = 9190 + os.getpid() % 500
        roles = [part for role in args.roles.split(",") for part in ("--role", role)]
        worker = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "aequatio",
            "worker",
            *roles,
            "--metrics-port",
            str(port),
            cwd=ROOT,
            env={
                **os.environ,
                "AEQUATIO_DATABASE_URL": database_url,
                "AEQUATIO_AMQP_URL": amqp_url,
                "AEQUATIO_LOG_LEVEL": "WARNING",
            },
        )
        try:
            fam = await family(app.bus, "Ann", "Ben", "Cai")
            await caught_up(database_url, "projection.activity")
            await asyncio.sleep(args.warmup)
            spy = start_py_spy(worker.pid, args.py_spy, blocking=True) if args.py_spy else None
            cpu_before = _cpu_seconds(worker.pid)
            generated = await generate(app, fam, args.rate, args.seconds, args.tasks)
            consumers = [f"projection.{name}" for name in args.projections.split(",")]
            lags = await applied_lags(database_url, generated["committed"], consumers)
            worker_cpu = _cpu_seconds(worker.pid) - cpu_before
            if spy is not None:
                stop_py_spy(spy)
            async with httpx.AsyncClient() as client:
                metrics = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
        finally:
            worker.send_signal(signal.SIGTERM)
            await asyncio.wait_for(worker.wait(), timeout=60)
            await app.aclose()
    result: dict[str, Any] = {
        "offered_rate": args.rate,
        "achieved_rate": generated["achieved_rate"],
        "mutations": len(generated["committed"]),
        # From the first mutation until every one was applied (or the wait gave up).
        "worker_cpu_us_per_mutation": round(worker_cpu / max(len(generated["committed"]), 1) * 1e6),
        "applied_at_lag": lags,
        "worker_lag_histogram": {c: histogram_shares(metrics, c) for c in consumers},
    }
    if args.py_spy:
        result["profile"] = top_frames(args.py_spy, args.top)
    return result


def _cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


# -- dispatcher ----------------------------------------------------------------------------------


async def dispatch_mode(args: argparse.Namespace) -> dict[str, Any]:
    """Drain a backlog with the real dispatcher (sampled), then the same with raw aiormq."""
    async with scratch(broker=True) as (database_url, amqp_url):
        backlog = await fill_backlog(database_url, args.backlog)
        transport = AmqpTransport(amqp_url)
        await transport.start()
        sink = Queue(f"bench.sink-{uuid.uuid4().hex[:6]}", ("#",))
        await transport.declare(Topology().with_queues(sink))
        app = bootstrap(Settings(), database_url=database_url)
        dispatcher = OutboxDispatcher(app.engine, transport, EVENTS, DispatcherSettings())
        spy = start_py_spy(os.getpid(), args.py_spy) if args.py_spy else None
        # Watched as the bench watches (``pending()`` would join every unpublished row with
        # its event, PostgreSQL work the drain competes with), on the database's clock.
        watcher = await asyncpg.connect(database_url.replace("+asyncpg", ""))
        try:
            began = await database_now(watcher)
            running = asyncio.create_task(dispatcher.run())
            last = await drained(watcher, within=max(120.0, args.backlog / 200), every=0.05)
        finally:
            await watcher.close()
        elapsed = last - began
        if spy is not None:
            stop_py_spy(spy)
        await dispatcher.stop()
        await running
        await transport.close()
        await app.aclose()
        raw = await raw_publisher_rate(amqp_url, backlog, args.backlog)
    result: dict[str, Any] = {
        "dispatcher_events_per_s": round(args.backlog / elapsed),
        "raw_aiormq_msgs_per_s": round(raw),
        "ratio": round(args.backlog / elapsed / raw, 2),
    }
    if args.py_spy:
        result["profile"] = top_frames(args.py_spy, args.top)
    return result


async def fill_backlog(database_url: str, count: int) -> bytes:
    """``count`` copies of a real ``expense.created`` (new ids) in the event store and outbox;
    returns its payload (the raw publisher's body)."""
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
            f"""
            WITH template AS (
                SELECT * FROM events_store WHERE event_type = 'expense.created' LIMIT 1
            ), copies AS (
                INSERT INTO events_store (event_id, event_type, event_version, schema_id,
                    aggregate_type, aggregate_id, aggregate_version, occurred_at,
                    correlation_id, actor, payload)
                SELECT {UUID_V7}, event_type, event_version, schema_id, aggregate_type,
                    {UUID_V7}, 1, occurred_at, {UUID_V7}, actor, payload
                FROM template, generate_series(1, $1)
                RETURNING position
            )
            INSERT INTO events_outbox (position) SELECT position FROM copies
            """,  # noqa: S608 - constants, no input
            count,
        )
        body = await connection.fetchval(
            "SELECT payload::text FROM events_store WHERE event_type = 'expense.created' LIMIT 1"
        )
    finally:
        await connection.close()
    return str(body).encode()


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
    began = time.perf_counter()
    for offset in range(0, count, 500):
        batch = [
            channel.basic_publish(
                body,
                exchange=DOMAIN_EVENTS,
                routing_key="expenses.expense.created",
                mandatory=True,
                properties=properties,
            )
            for _ in range(min(500, count - offset))
        ]
        await asyncio.gather(*batch)
    elapsed = time.perf_counter() - began
    await connection.close()
    return count / elapsed


# -- replay ------------------------------------------------------------------------------------


async def fill_history(database_url: str, events: int) -> None:
    """``events`` expense events: realistic ones written through the bus, then copied in SQL
    (new ids, their own aggregates) so the history is as large as asked quickly."""
    app = bootstrap(Settings(), database_url=database_url)
    fam = await family(app.bus, "Ann", "Ben", "Cai")
    for index in range(40):
        created = await app.bus.handle(
            commands.AddExpense(
                group_id=fam.group_id,
                amount_cents=1_000 + index,
                currency="EUR",
                description=f"seed {index}",
                incurred_on=date(2026, 1 + index % 12, 1 + index % 28),
            ),
            fam.members[index % 3].principal,
        )
        if index % 4 == 0:
            await app.bus.handle(
                commands.AmendExpense(
                    expense_id=created.aggregate_id,
                    expected_version=created.aggregate_version,
                    amount_cents=2_000 + index,
                ),
                fam.owner.principal,
            )
    await app.aclose()
    connection = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        await connection.execute("UPDATE events_outbox SET published_at = now()")
        seeds = await connection.fetchval(
            "SELECT count(*) FROM events_store WHERE aggregate_type = 'expense'"
        )
        copies = max(0, (events - seeds) // seeds)
        # Each copy renames every seeded expense to a new aggregate id, keeping its versions.
        await connection.execute(
            """
            INSERT INTO events_store (event_id, event_type, event_version, schema_id,
                aggregate_type, aggregate_id, aggregate_version, occurred_at, correlation_id,
                actor, payload)
            SELECT gen_random_uuid(), s.event_type, s.event_version, s.schema_id,
                s.aggregate_type, uuid_generate_v5(s.aggregate_id, c::text), s.aggregate_version,
                s.occurred_at, gen_random_uuid(), s.actor, s.payload
            FROM generate_series(1, $1) c
            CROSS JOIN LATERAL (
                SELECT * FROM events_store WHERE aggregate_type = 'expense' ORDER BY position
            ) s
            ORDER BY c, s.position
            """,
            copies,
        )
    finally:
        await connection.close()


class CpuSampler:
    """CPU seconds of a process and of the PostgreSQL backends serving ``database``, sampled
    every 0.1 s (a backend's last sample counts: its time is gone once it exits), so a run's
    CPU per event on each side, and the rate both cores could give at best, can be told. The
    process's count includes its start (imports, about 1.5 s): replay 300,000 events or more
    for a per-event figure it does not distort."""

    def __init__(self, pid: int, database: str) -> None:
        self._pid = pid
        self._database = database
        self.process = 0.0
        self.backends: dict[int, float] = {}

    def sample(self) -> None:
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(self._pid).cpu_times()
            self.process = times.user + times.system
        self.backends.update(backend_cpu(self._database))

    async def run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(0.1)

    def per_event(self, events: int) -> dict[str, float]:
        python = self.process / max(events, 1) * 1e6
        postgres = sum(self.backends.values()) / max(events, 1) * 1e6
        return {
            "python_cpu_us_per_event": round(python, 1),
            "postgresql_cpu_us_per_event": round(postgres, 1),
            # Both sides on every core, perfectly overlapped, nothing else running.
            "cpu_bound_events_per_s": round((os.cpu_count() or 1) * 1e6 / (python + postgres))
            if python + postgres
            else 0,
        }


async def replay_mode(args: argparse.Namespace) -> dict[str, Any]:
    async with scratch(broker=False) as (database_url, _):
        admin = await asyncpg.connect(database_url.replace("+asyncpg", ""))
        await admin.execute('CREATE EXTENSION IF NOT EXISTS "uuid-ossp"')
        await admin.close()
        await fill_history(database_url, args.events)
        connection = await asyncpg.connect(database_url.replace("+asyncpg", ""))
        counts = await connection.fetch(
            "SELECT event_type, count(*) FROM events_store GROUP BY 1 ORDER BY 1"
        )
        await connection.close()
        names = args.projections.split(",")
        command = [sys.executable, "-m", "aequatio", "replay", *names]
        env = {**os.environ, "AEQUATIO_DATABASE_URL": database_url, "AEQUATIO_LOG_LEVEL": "INFO"}
        began = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, env=env)  # noqa: S603, ASYNC220
        spy = start_py_spy(process.pid, args.py_spy) if args.py_spy else None
        cpu = CpuSampler(process.pid, database_url.rsplit("/", 1)[1])
        sampling = asyncio.create_task(cpu.run())
        code = await asyncio.to_thread(process.wait)
        elapsed = time.perf_counter() - began
        sampling.cancel()
        if spy is not None:
            stop_py_spy(spy)
        if code:
            raise RuntimeError(f"replay exited {code}")
    events = {row["event_type"]: row["count"] for row in counts}
    expense_events = sum(n for t, n in events.items() if t.startswith("expense."))
    result: dict[str, Any] = {
        "events_in_store": events,
        "projections": names,
        "seconds": round(elapsed, 2),
        "expense_events_per_s_per_projection": round(expense_events * len(names) / elapsed),
        **cpu.per_event(expense_events * len(names)),
    }
    if args.py_spy:
        result["profile"] = top_frames(args.py_spy, args.top)
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    modes = parser.add_subparsers(dest="mode", required=True)
    lag = modes.add_parser("lag")
    lag.add_argument("--rate", type=float, default=200.0)
    lag.add_argument("--seconds", type=float, default=20.0)
    lag.add_argument("--tasks", type=int, default=4, help="concurrent mutation generators")
    lag.add_argument("--roles", default="all", help="the worker's roles, comma-separated")
    lag.add_argument("--projections", default="balances,expenses,group_summary,activity")
    lag.add_argument("--warmup", type=float, default=2.0)
    lag.add_argument("--py-spy", type=Path, default=None)
    lag.add_argument("--top", type=int, default=25)
    rep = modes.add_parser("replay")
    rep.add_argument("--events", type=int, default=100_000)
    rep.add_argument("--projections", default="balances,expenses,group_summary,activity")
    rep.add_argument("--py-spy", type=Path, default=None)
    rep.add_argument("--top", type=int, default=25)
    dis = modes.add_parser("dispatch")
    dis.add_argument("--backlog", type=int, default=20_000)
    dis.add_argument("--py-spy", type=Path, default=None)
    dis.add_argument("--top", type=int, default=25)
    top = modes.add_parser("top")
    top.add_argument("raw", type=Path)
    top.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    if args.mode == "lag":
        result = await lag_mode(args)
    elif args.mode == "dispatch":
        result = await dispatch_mode(args)
    elif args.mode == "replay":
        result = await replay_mode(args)
    else:
        result = top_frames(args.raw, args.top)
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    # The loop ``aequatio worker`` and ``aequatio replay`` run on (AEQUATIO_WORKER_EVENT_LOOP).
    uvloop.run(main())

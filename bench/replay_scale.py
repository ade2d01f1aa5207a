"""Replay and scale, on a database of their own that holds one group's history and nothing
else (so the replay's size is exactly what it says, whatever the other phases wrote):

* the family and one real ``expense.created`` are made through the real command bus; the
  history is bulk copies of that event in SQL (``bench.fixtures.COPY_EXPENSES``: new expense
  and event ids, dates spread over ten years, each copy what the bus would have written);
* ``balances`` is rebuilt by ``aequatio.projections.replay.replay`` (what ``aequatio replay
  balances`` runs) with the small history, then the large one: events/s;
* after each replay the group's balances must equal the copies' sum to the cent (the
  projection accepted every event); then ``balances`` is queried through the API (c=1): p50
  with the small and with the large history.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import uuid
from datetime import date
from typing import Any

import asyncpg

from aequatio.application import commands
from aequatio.bootstrap import bootstrap
from aequatio.config import Settings
from aequatio.events.catalog import EVENTS
from aequatio.graphql import ids
from aequatio.persistence.database import create_engine, migrate
from aequatio.projections.base import Projection
from aequatio.projections.catalog import by_name
from aequatio.projections.replay import rebuild_schema, replay
from bench.context import Run
from bench.fixtures import AMOUNT, FIRST_YEAR, balances_requests, copy_expenses, query_ok
from bench.http_paths import READ_PERIOD
from bench.loadgen import closed_loop
from tests.support.family import register

PROJECTION = "balances"
#: The read models a ``balances`` query needs besides ``balances`` (membership, names).
DIRECTORY = ("user_directory", "group_summary")


async def _replay(url: str, name: str, dsn: str, cap: float | None = None) -> dict[str, Any]:
    """``replay`` of one projection, timed. With ``cap``, a replay still running after
    ``cap`` seconds is stopped: the rate is then the events its committed batches applied
    (counted in the rebuild schema's tracking table) over the time, marked incomplete."""
    projection = by_name(name)
    engine = create_engine(url)
    try:
        began = time.perf_counter()
        task = asyncio.create_task(replay(engine, projection, EVENTS))
        done, _ = await asyncio.wait({task}, timeout=cap if cap != math.inf else None)
        elapsed = time.perf_counter() - began
        if task in done:
            report = task.result()
            events = report.built + report.caught_up
            return {
                "projection": name,
                "events": events,
                "complete": True,
                "seconds": round(elapsed, 2),
                "events_per_s": round(events / elapsed, 1),
                "swap_pause_s": round(report.paused, 2),
            }
        applied = await _rebuilt_so_far(dsn, projection)
        elapsed = time.perf_counter() - began
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return {
            "projection": name,
            "events": applied,
            "complete": False,
            "stopped_after_seconds": cap,
            "seconds": round(elapsed, 2),
            "events_per_s": round(applied / elapsed, 1),
        }
    finally:
        await engine.dispose()


async def _rebuilt_so_far(dsn: str, projection: Projection) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        return int(
            await connection.fetchval(
                f'SELECT count(*) FROM "{rebuild_schema(projection)}".processed_events '  # noqa: S608 - our schema name
                "WHERE consumer = $1",
                projection.consumer,
            )
        )
    finally:
        await connection.close()


async def _history_is_whole(dsn: str, group: uuid.UUID, expenses: int) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        paid = await connection.fetchval(
            "SELECT coalesce(sum(paid_cents), 0) FROM read.monthly_balances WHERE group_id = $1",
            group,
        )
    finally:
        await connection.close()
    if int(paid) != expenses * AMOUNT:
        raise RuntimeError(
            f"after replay the group's balances hold {paid} paid, not {expenses} x {AMOUNT}"
        )


async def _balances(run: Run, port: int, group: str, token: str) -> dict[str, Any]:
    make = balances_requests("/graphql", group, token, *READ_PERIOD)
    result = await closed_loop(
        "127.0.0.1",
        port,
        make,
        concurrency=1,
        duration=run.profile.duration,
        warmup=run.profile.warmup,
        check=query_ok,
    )
    if result.errors:
        raise RuntimeError(f"balances failed: {result.first_error}")
    summary = result.summary()
    return {k: summary[k] for k in ("requests", "p50_ms", "p99_ms", "throughput_rps")}


async def _history(url: str) -> tuple[uuid.UUID, str, str]:
    """(group id, owner's subject, template event id), made through the command bus."""
    app = bootstrap(Settings(), database_url=url)
    try:
        owner, other = await register(app.bus, "Ann"), await register(app.bus, "Ben")
        since = date(FIRST_YEAR, 1, 1)
        created = await app.bus.handle(
            commands.CreateGroup(name="History", currency="EUR", started_on=since),
            owner.principal,
        )
        group = created.aggregate_id
        await app.bus.handle(
            commands.AddMember(group_id=group, user_id=other.user_id, joined_on=since),
            owner.principal,
        )
        await app.bus.handle(
            commands.AddExpense(
                group_id=group,
                amount_cents=AMOUNT,
                currency="EUR",
                description="Groceries",
                incurred_on=date(2016, 1, 15),
            ),
            owner.principal,
        )
        async with app.engine.connect() as connection:
            raw = await connection.exec_driver_sql(
                "SELECT event_id FROM events_store WHERE event_type = 'expense.created'"
            )
            template = str(raw.scalar_one())
    finally:
        await app.aclose()
    return group, owner.principal.subject, template


async def replay_and_scale(run: Run) -> None:
    stack, profile = run.stack, run.profile
    name = await stack.create_database("history")
    url, dsn = stack.urls(name)
    await asyncio.to_thread(migrate, url)
    group, subject, template = await _history(url)
    for projection in DIRECTORY:
        await _replay(url, projection, dsn)
    token = run.client.token(subject)
    group_id = ids.encode("Group", group)
    small, large = profile.scale_small, profile.scale_large
    run.log(f"scale: {small:,} expenses in the group's history")
    await copy_expenses(dsn, template, small - 1, start=1)
    smaller = await _replay(url, PROJECTION, dsn)
    await _history_is_whole(dsn, group, small)
    run.results["replay"] = {"smaller_replay": smaller}
    api = await stack.serve(1, name="api-scale", AEQUATIO_DATABASE_URL=url)
    try:
        at_small = await _balances(run, api.port or 0, group_id, token)
        scale: dict[str, Any] = {
            "expenses_small": small,
            "expenses_large": large,
            "period": list(READ_PERIOD),
            "balances_small": at_small,
        }
        run.results["scale"] = scale
        run.log(f"  balances p50 {at_small['p50_ms']} ms; seeding up to {large:,}")
        seeded = await copy_expenses(dsn, template, large - small, start=small, progress="seeding")
        scale["seed_seconds"] = round(seeded, 1)
        cap = profile.replay_cap
        run.log(f"  seeded in {seeded:.0f} s; replaying {PROJECTION} (at most {cap:.0f} s)")
        replayed = await _replay(url, PROJECTION, dsn, cap=profile.replay_cap)
        run.results["replay"] = replayed | {"smaller_replay": smaller}
        run.log(f"  replay {replayed}")
        if not replayed["complete"]:
            raise RuntimeError(
                f"the replay of {large:,} events did not finish within {profile.replay_cap:.0f} s "
                f"({replayed['events_per_s']:,.0f} events/s over {replayed['events']:,} events): "
                f"no `balances` figure at {large:,} expenses"
            )
        await _history_is_whole(dsn, group, large)
        at_large = await _balances(run, api.port or 0, group_id, token)
        scale["balances_large"] = at_large
        run.log(f"  balances p50 {at_large['p50_ms']} ms")
    finally:
        stack.stop(api)

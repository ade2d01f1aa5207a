"""Replay rebuilds projections from the event store into fresh tables and swaps them in while
queries keep answering and live consumption goes on: nothing lost, nothing applied twice."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Sequence

import pytest
from alembic import command
from sqlalchemy import false, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from aequatio.bootstrap import Application
from aequatio.events.base import EventPayload
from aequatio.events.catalog import EVENTS
from aequatio.events.envelope import Envelope
from aequatio.outbox.transport import Transport
from aequatio.persistence.database import REPOSITORY_ROOT, alembic_config
from aequatio.projections import replay as replay_module
from aequatio.projections.balances import Balances
from aequatio.projections.catalog import PROJECTIONS, by_name
from aequatio.projections.replay import replay
from aequatio.projections.tables import monthly_balances
from tests.support.family import family
from tests.support.history import rich_history, snapshot
from tests.support.readside import applied_ids, committed_ids, read_side, wait_caught_up
from tests.support.recompute import projected_balances, recompute_balances
from tests.support.workload import expenses


async def test_a_full_replay_equals_what_was_built_live(
    application: Application, database_url: str, transport: Transport
) -> None:
    async with read_side(application.engine, transport):
        await rich_history(application.bus)
        await wait_caught_up(application.engine)
        live = await snapshot(application.engine)
        tracked = {p.name: await applied_ids(application.engine, p) for p in PROJECTIONS}

        for projection in PROJECTIONS:
            await replay(application.engine, projection, EVENTS)

        assert await snapshot(application.engine) == live
        assert {p.name: await applied_ids(application.engine, p) for p in PROJECTIONS} == tracked
    # The swapped-in tables carry the migrated names of their indexes and constraints.
    await asyncio.to_thread(command.check, alembic_config(database_url))


async def test_replay_under_live_writes_loses_nothing_and_queries_keep_answering(
    application: Application, transport: Transport
) -> None:
    fam = await family(application.bus, "Ann", "Ben", "Cai")
    balances = by_name("balances")
    answered = 0

    async def query_continuously(stop: asyncio.Event) -> None:
        nonlocal answered
        while not stop.is_set():
            async with application.engine.connect() as connection:
                await connection.execute(select(func.count()).select_from(monthly_balances))
            answered += 1
            await asyncio.sleep(0.01)

    async with read_side(application.engine, transport):
        await expenses(application, fam, 30, seed=11)
        stop = asyncio.Event()
        reader = asyncio.create_task(query_continuously(stop))
        writer = asyncio.create_task(expenses(application, fam, 40, seed=12))
        for _ in range(3):
            await replay(application.engine, balances, EVENTS)
        await writer
        stop.set()
        await reader
        await wait_caught_up(application.engine)

    assert answered > 10
    assert await applied_ids(application.engine, balances) == await committed_ids(
        application.engine, balances
    )
    async with application.engine.connect() as connection:
        assert await projected_balances(connection) == await recompute_balances(connection)


def test_the_replay_command_rebuilds_every_projection(database_url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "aequatio", "replay", "--all"],
        cwd=REPOSITORY_ROOT,
        env={**os.environ, "AEQUATIO_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert {line.split(":")[0] for line in done.stdout.splitlines()} == {
        p.name for p in PROJECTIONS
    }


class _PlanModeProbe(Balances):
    """``balances``, noting the plan cache mode of each transaction that applies a page."""

    def __init__(self) -> None:
        self.modes: list[str] = []

    async def apply_many(
        self, connection: AsyncConnection, items: Sequence[tuple[Envelope, EventPayload]]
    ) -> None:
        mode = await connection.execute(text("SHOW plan_cache_mode"))
        self.modes.append(str(mode.scalar_one()))
        await super().apply_many(connection, items)


async def test_a_replay_plans_each_page_for_the_tables_as_they_are(
    application: Application,
) -> None:
    """The rebuild tables grow from empty and are not analyzed meanwhile: a generic plan cached
    early scanned a whole table per page. Each page's transaction plans afresh, and only it."""
    fam = await family(application.bus, "Ann", "Ben")
    await expenses(application, fam, 3, seed=11)
    probe = _PlanModeProbe()

    await replay(application.engine, probe, EVENTS)

    assert probe.modes
    assert set(probe.modes) == {"force_custom_plan"}
    async with application.engine.connect() as connection:  # SET LOCAL: nothing left behind
        after = (await connection.execute(text("SHOW plan_cache_mode"))).scalar_one()
    assert after == "auto"


async def test_the_swap_applies_what_the_live_consumer_applied_and_the_rebuild_missed(
    application: Application, transport: Transport, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events committed after the catch-up before the swap, that the live consumer applied
    meanwhile: the swap's own catch-up (the live tracking rows against the rebuild's) applies
    them. Here the build and the first catch-up miss every event, as if all had come late."""
    fam = await family(application.bus, "Ann", "Ben", "Cai")
    balances = by_name("balances")
    async with read_side(application.engine, transport):
        await expenses(application, fam, 12, seed=21)
        await wait_caught_up(application.engine)
    live = await snapshot(application.engine)

    async def build_nothing(*_: object) -> int:
        return 0

    monkeypatch.setattr(replay_module, "_build", build_nothing)
    monkeypatch.setattr(replay_module, "_late", lambda _projection: false())
    report = await replay(application.engine, balances, EVENTS)

    assert report.built == 0
    assert report.caught_up == len(await committed_ids(application.engine, balances)) > 0
    assert await snapshot(application.engine) == live
    assert await applied_ids(application.engine, balances) == await committed_ids(
        application.engine, balances
    )

"""The soak and the benchmarks stand in for autovacuum where the server has it off: they
vacuum and analyze what autovacuum would, at its default thresholds, and nothing else."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.maintenance import autovacuum_is_on, maintain_like_autovacuum, maintain_once

LAST_ANALYZED = "SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'scratch'"


async def _scratch_table(engine: AsyncEngine, rows: int) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE scratch (n integer)"))
        await connection.execute(
            text("INSERT INTO scratch SELECT generate_series(1, :rows)"), {"rows": rows}
        )


async def _until(engine: AsyncEngine, condition: str, within: float = 20.0) -> bool:
    """Cumulative statistics reach ``pg_stat_user_tables`` about a second after a commit."""
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        async with engine.connect() as connection:
            if (await connection.execute(text(condition))).scalar():
                return True
        await asyncio.sleep(0.2)
    return False


async def test_a_round_analyzes_a_changed_table_once_and_vacuums_what_is_dead(
    engine: AsyncEngine,
) -> None:
    await _scratch_table(engine, 1_000)
    assert await _until(
        engine,
        "SELECT n_mod_since_analyze >= 1000 FROM pg_stat_user_tables WHERE relname = 'scratch'",
    )

    assert "ANALYZE public.scratch" in await maintain_once(engine)
    assert await _until(engine, LAST_ANALYZED + " AND n_mod_since_analyze = 0")
    assert not [s for s in await maintain_once(engine) if s.endswith(" public.scratch")]

    async with engine.begin() as connection:  # 600 dead rows behind 400 live: due a vacuum
        await connection.execute(text("DELETE FROM scratch WHERE n > 400"))
    assert await _until(
        engine, "SELECT n_dead_tup >= 600 FROM pg_stat_user_tables WHERE relname = 'scratch'"
    )
    assert "VACUUM (ANALYZE) public.scratch" in await maintain_once(engine)


async def test_the_loop_maintains_where_the_server_does_not_and_nothing_where_it_does(
    engine: AsyncEngine,
) -> None:
    await _scratch_table(engine, 1_000)
    stop = asyncio.Event()
    maintaining = asyncio.create_task(maintain_like_autovacuum(engine, stop, every=0.2))
    off = not await autovacuum_is_on(engine)
    analyzed = await _until(
        engine, LAST_ANALYZED + " AND last_analyze IS NOT NULL", 20 if off else 2
    )
    stop.set()
    statements = await maintaining

    if off:
        assert analyzed
        assert statements is not None
        assert statements >= 1
    else:
        assert statements is None

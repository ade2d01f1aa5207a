"""The soak and the benchmarks stand in for autovacuum where the server has it off."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.maintenance import autovacuum_is_on, maintain_like_autovacuum

LAST_ANALYZED = "SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'events_store'"


async def test_it_analyzes_where_the_server_does_not_and_nothing_where_it_does(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as connection:
        before = (await connection.execute(text(LAST_ANALYZED))).scalar_one()
    stop = asyncio.Event()
    maintaining = asyncio.create_task(maintain_like_autovacuum(engine, stop, every=0.1))
    await asyncio.sleep(0.5)
    stop.set()
    rounds = await maintaining

    async with engine.connect() as connection:
        after = (await connection.execute(text(LAST_ANALYZED))).scalar_one()
    if await autovacuum_is_on(engine):
        assert rounds == 0
    else:
        assert rounds >= 1
        assert after is not None
        assert before is None or after > before

"""What autovacuum would do, done by hand where the server has it off.

CI's PostgreSQL runs with ``autovacuum = off``; a production server has it on (README). Long
runs (the outbox soak, the benchmarks) stand in for it, or they measure a server nobody runs:

* never analyzed, tables that grow from empty keep the plans each pooled connection cached
  while they were empty. In the first soak at full size, advancing a batch's streams
  (``UPDATE ... FROM unnest``) read the whole of ``read.stream_positions``, and a consumer
  applied fewer events per second the more it had applied, from about 560 to 73; an
  ``ANALYZE`` by hand (new statistics invalidate the cached plans) brought it back to about
  1,000 at once;
* the dispatcher deletes what it published: 1,000,000 events left 1,975,428 dead rows
  (157 MB) behind 23 live ones in the outbox, for every count of it to read.

Each round does what autovacuum would decide to do with its default settings: vacuum the
tables with more dead rows than ``50 + 20%`` of their live ones, analyze those changed by more
than ``50 + 10%`` since their last analysis; nothing else (an ``ANALYZE`` of everything every
round cost the benchmarks' latencies CPU they would not pay in production).
"""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

#: Seconds between two rounds (autovacuum's own naptime is 60 s by default).
MAINTAIN_EVERY = 30.0

#: ``autovacuum_vacuum_threshold``/``_scale_factor`` and ``autovacuum_analyze_*`` defaults.
_DUE = text(
    """
    SELECT format('%I.%I', schemaname, relname) AS name,
        n_dead_tup > 50 + 0.2 * n_live_tup AS vacuum,
        n_mod_since_analyze > 50 + 0.1 * n_live_tup AS analyze
    FROM pg_stat_user_tables
    WHERE n_dead_tup > 50 + 0.2 * n_live_tup OR n_mod_since_analyze > 50 + 0.1 * n_live_tup
    ORDER BY 1
    """
)


async def autovacuum_is_on(engine: AsyncEngine) -> bool:
    async with engine.connect() as connection:
        setting = (await connection.execute(text("SHOW autovacuum"))).scalar_one()
    return bool(setting == "on")


async def maintain_once(engine: AsyncEngine) -> list[str]:
    """One round: vacuum and analyze what autovacuum would; the statements run."""
    done: list[str] = []
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        for name, vacuum, analyze in (await connection.execute(_DUE)).all():
            if vacuum:
                statement = f"VACUUM (ANALYZE) {name}" if analyze else f"VACUUM {name}"
            else:
                statement = f"ANALYZE {name}"
            await connection.execute(text(statement))
            done.append(statement)
    return done


async def maintain_like_autovacuum(
    engine: AsyncEngine, stop: asyncio.Event, every: float = MAINTAIN_EVERY
) -> int | None:
    """Until ``stop``: a round of :func:`maintain_once` every ``every`` seconds, if the server
    does not maintain itself; how many statements ran (``None``: autovacuum is on, nothing to
    stand in for)."""
    if await autovacuum_is_on(engine):
        return None
    statements = 0
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
        if stop.is_set():
            return statements
        statements += len(await maintain_once(engine))

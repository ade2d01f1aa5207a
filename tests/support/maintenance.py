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
"""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

#: Seconds between two rounds (autovacuum's own naptime is 60 s by default).
MAINTAIN_EVERY = 30.0


async def autovacuum_is_on(engine: AsyncEngine) -> bool:
    async with engine.connect() as connection:
        setting = (await connection.execute(text("SHOW autovacuum"))).scalar_one()
    return bool(setting == "on")


async def maintain_like_autovacuum(
    engine: AsyncEngine, stop: asyncio.Event, every: float = MAINTAIN_EVERY
) -> int:
    """Until ``stop``: every ``every`` seconds, vacuum the outbox and analyze the database, if
    the server does not; how many rounds ran (0 where autovacuum is on)."""
    if await autovacuum_is_on(engine):
        return 0
    rounds = 0
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
        if stop.is_set():
            return rounds
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text("VACUUM events_outbox"))
            await connection.execute(text("ANALYZE"))
        rounds += 1

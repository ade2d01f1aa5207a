"""The three checks every fault scenario ends with.

1. Per consumer (every projection and every saga), the set of applied event ids equals the set
   of committed events it listens to — nothing lost, nothing invented — and nothing was parked
   in a dead-letter queue.
2. Every balance equals the one recomputed from the event store alone, to the cent.
3. No saga is stuck: each instance is in a final state, or waiting within its deadline.

The set comparisons run in SQL (anti-joins on the tracking table), so they stay cheap at soak
sizes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import aiormq
from pamqp import commands as spec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from aequatio.events.catalog import EVENTS
from aequatio.projections.base import Projection
from aequatio.projections.catalog import PROJECTIONS
from aequatio.sagas.base import Saga
from aequatio.sagas.catalog import SAGAS
from tests.support.recompute import projected_balances, recompute_balances

_MISSING = text(
    "SELECT s.event_id FROM events_store s WHERE s.event_type = ANY(:types) AND NOT EXISTS "
    "(SELECT 1 FROM read.processed_events p WHERE p.consumer = :consumer "
    "AND p.event_id = s.event_id) ORDER BY s.position LIMIT 20"
)
_MISSING_COUNT = text(
    "SELECT count(*) FROM events_store s WHERE s.event_type = ANY(:types) AND NOT EXISTS "
    "(SELECT 1 FROM read.processed_events p WHERE p.consumer = :consumer "
    "AND p.event_id = s.event_id)"
)
_INVENTED = text(
    "SELECT p.event_id FROM read.processed_events p WHERE p.consumer = :consumer AND NOT EXISTS "
    "(SELECT 1 FROM events_store s WHERE s.event_id = p.event_id "
    "AND s.event_type = ANY(:types)) LIMIT 20"
)


@dataclass(frozen=True)
class Follower:
    """A consumer of events with its tracking name, its queue and what it listens to."""

    consumer: str
    event_types: tuple[str, ...]


#: Every consumer of the read side: the projections and the sagas.
CONSUMERS: tuple[Projection | Saga, ...] = (*PROJECTIONS, *SAGAS)
#: Their queues.
QUEUES: tuple[str, ...] = tuple(consumer.queue().name for consumer in CONSUMERS)

FOLLOWERS: tuple[Follower, ...] = tuple(
    Follower(follower.consumer, tuple(follower.event_types(EVENTS))) for follower in CONSUMERS
)


async def behind(engine: AsyncEngine, followers: Sequence[Follower] = FOLLOWERS) -> dict[str, int]:
    """Consumers that have not applied every committed event they listen to, and by how many."""
    lag: dict[str, int] = {}
    async with engine.connect() as connection:
        for follower in followers:
            count = (
                await connection.execute(
                    _MISSING_COUNT,
                    {"types": list(follower.event_types), "consumer": follower.consumer},
                )
            ).scalar_one()
            if count:
                lag[follower.consumer] = int(count)
    return lag


async def unpublished(engine: AsyncEngine) -> int:
    """Outbox rows the dispatcher has not had confirmed yet."""
    async with engine.connect() as connection:
        query = text("SELECT count(*) FROM events_outbox WHERE published_at IS NULL")
        return int((await connection.execute(query)).scalar_one())


async def queue_depths(amqp_url: str) -> dict[str, tuple[int, int]]:
    """Per consumer queue: (ready messages, consumers)."""
    depths: dict[str, tuple[int, int]] = {}
    async with aiormq.connect(amqp_url) as connection:
        channel = await connection.channel()
        for follower in CONSUMERS:
            declared = await channel.queue_declare(follower.queue().name, passive=True)
            assert isinstance(declared, spec.Queue.DeclareOk)
            depths[follower.queue().name] = (
                int(declared.message_count or 0),
                int(declared.consumer_count or 0),
            )
    return depths


async def caught_up(
    engine: AsyncEngine,
    followers: Sequence[Follower] = FOLLOWERS,
    *,
    within: float = 90,
    amqp_url: str | None = None,
) -> None:
    """Wait until every consumer applied everything committed; fail once ``within`` s pass
    with no consumer getting any closer, saying where the events wait (the outbox, or the
    queues). A backlog that keeps shrinking (the soak leaves tens of thousands of deliveries
    queued) takes as long as it takes; a stall fails as soon as it is one."""
    loop = asyncio.get_running_loop()
    lag = await behind(engine, followers)
    closest, progressed_at = lag, loop.time()
    while lag:
        if loop.time() - progressed_at > within:
            where = f"unpublished in the outbox: {await unpublished(engine)}"
            if amqp_url is not None:
                where += f"; queues (ready, consumers): {await queue_depths(amqp_url)}"
            raise AssertionError(
                f"no progress for {within}s, still behind (missing events): {lag}; {where}"
            )
        await asyncio.sleep(0.2)
        lag = await behind(engine, followers)
        if any(lag.get(name, 0) < missing for name, missing in closest.items()):
            closest = {name: min(missing, lag.get(name, 0)) for name, missing in closest.items()}
            progressed_at = loop.time()


async def assert_applied_equals_committed(
    engine: AsyncEngine, followers: Sequence[Follower] = FOLLOWERS
) -> None:
    differences: dict[str, tuple[list[UUID], list[UUID]]] = {}
    async with engine.connect() as connection:
        for follower in followers:
            arguments = {"types": list(follower.event_types), "consumer": follower.consumer}
            missing = list((await connection.execute(_MISSING, arguments)).scalars())
            invented = list((await connection.execute(_INVENTED, arguments)).scalars())
            if missing or invented:
                differences[follower.consumer] = (missing, invented)
    assert not differences, f"applied != committed (missing, invented): {differences}"


async def assert_balances_recomputed(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        projected = await projected_balances(connection)
        expected = await recompute_balances(connection)
    wrong = {
        key: (projected.get(key), expected.get(key))
        for key in set(projected) | set(expected)
        if projected.get(key) != expected.get(key)
    }
    assert not wrong, (
        f"{len(wrong)} balances differ (projected, recomputed): {list(wrong.items())[:5]}"
    )


async def stuck_sagas(engine: AsyncEngine, now: datetime | None = None) -> list[tuple[str, ...]]:
    """Saga instances neither final nor legitimately waiting within their deadline."""
    final = {saga.name: saga.final for saga in SAGAS}
    moment = now or datetime.now(UTC)
    async with engine.connect() as connection:
        rows = (
            await connection.execute(text("SELECT saga, key, status, deadline FROM saga_states"))
        ).all()
    return [
        (row.saga, row.key, row.status, str(row.deadline))
        for row in rows
        if row.status not in final[row.saga]
        and not (row.status == "waiting" and row.deadline is not None and row.deadline > moment)
    ]


async def dead_lettered(amqp_url: str) -> dict[str, int]:
    """Messages parked in the consumers' dead-letter queues on the broker of ``amqp_url``."""
    parked: dict[str, int] = {}
    async with aiormq.connect(amqp_url) as connection:
        for follower in CONSUMERS:
            name = follower.queue().dead_letter_queue
            channel = await connection.channel()
            declared = await channel.queue_declare(name, passive=True)
            assert isinstance(declared, spec.Queue.DeclareOk)
            if declared.message_count:
                parked[name] = int(declared.message_count)
            await channel.close()
    return parked


async def assert_consistent(
    engine: AsyncEngine, *, amqp_url: str | None = None, within: float = 90
) -> None:
    """The three checks, once every consumer has caught up (see the module docstring)."""
    started = asyncio.get_running_loop().time()
    print("behind at the end of the load:", await behind(engine))
    await caught_up(engine, within=within, amqp_url=amqp_url)
    print(f"caught up in {asyncio.get_running_loop().time() - started:.1f}s")
    await assert_applied_equals_committed(engine)
    if amqp_url is not None:
        assert await dead_lettered(amqp_url) == {}, "messages were dead-lettered"
    await assert_balances_recomputed(engine)
    assert await stuck_sagas(engine) == [], "sagas stuck"

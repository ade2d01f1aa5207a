"""A request's reads share one pooled connection; outside a request each read takes its own."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from aequatio.graphql.read_store import ReadStore
from aequatio.persistence.database import create_engine


@contextmanager
def checkouts(engine: AsyncEngine) -> Iterator[list[int]]:
    """The backend pid of every connection checked out of ``engine``'s pool meanwhile."""
    pids: list[int] = []

    def taken(dbapi_connection: object, *_: object) -> None:
        pids.append(dbapi_connection._connection.get_server_pid())  # type: ignore[attr-defined]

    event.listen(engine.sync_engine, "checkout", taken)
    try:
        yield pids
    finally:
        event.remove(engine.sync_engine, "checkout", taken)


async def some_reads(store: ReadStore) -> None:
    nobody = uuid.uuid4()
    assert await store.user_by_subject("nobody") is None  # driver statement
    assert await store.users_by_id([nobody]) == []  # driver statement
    assert await store.groups_of(nobody) == []  # SQLAlchemy statement


async def test_the_reads_of_a_request_take_one_connection(engine: AsyncEngine) -> None:
    store = ReadStore(engine)
    with checkouts(engine) as outside:
        await some_reads(store)
    with checkouts(engine) as inside:
        async with store.reading():
            await some_reads(store)

    assert len(outside) == 3
    assert len(inside) == 1


async def test_nothing_is_taken_until_the_first_read(engine: AsyncEngine) -> None:
    store = ReadStore(engine)
    with checkouts(engine) as taken:
        async with store.reading():
            pass
    assert taken == []


async def test_reads_side_by_side_take_turns_on_the_connection(engine: AsyncEngine) -> None:
    store = ReadStore(engine)
    with checkouts(engine) as taken:
        async with store.reading():
            await asyncio.gather(*(some_reads(store) for _ in range(8)))
    assert len(taken) == 1


async def test_the_connection_goes_back_to_the_pool_at_the_end(engine: AsyncEngine) -> None:
    store = ReadStore(engine)
    pool = engine.sync_engine.pool
    before = pool.checkedout()  # type: ignore[attr-defined]
    async with store.reading():
        await some_reads(store)
        assert pool.checkedout() == before + 1  # type: ignore[attr-defined]
    assert pool.checkedout() == before  # type: ignore[attr-defined]


async def test_a_read_that_outlives_the_request_takes_its_own_connection(
    engine: AsyncEngine,
) -> None:
    store = ReadStore(engine)
    started = asyncio.Event()
    finish = asyncio.Event()

    async def lingering() -> None:  # e.g. a task the request started and did not wait for
        started.set()
        await finish.wait()
        await some_reads(store)

    async with store.reading():
        await some_reads(store)
        task = asyncio.create_task(lingering())
        await started.wait()
    with checkouts(engine) as taken:
        finish.set()
        await task
    assert len(taken) == 3


async def test_after_its_connection_is_lost_the_request_reads_on_a_new_one(
    engine: AsyncEngine,
) -> None:
    store = ReadStore(engine)
    with checkouts(engine) as taken:
        async with store.reading():
            await some_reads(store)
            async with engine.connect() as admin:
                await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": taken[0]})
            await asyncio.sleep(0.2)  # the driver sees the socket close
            await some_reads(store)
    assert len(taken) == 3  # the lease's, the admin's, the lease's second
    assert taken[2] != taken[0]


async def test_after_a_failed_statement_the_request_reads_on_a_new_connection(
    engine: AsyncEngine,
) -> None:
    store = ReadStore(engine)
    with checkouts(engine) as taken:
        async with store.reading():
            await some_reads(store)
            with pytest.raises(DBAPIError):
                await store.users_by_id(["not a uuid"])  # type: ignore[list-item]
            await some_reads(store)
    assert len(taken) == 2


async def test_set_aside_gives_the_connection_back_until_the_next_read(
    engine: AsyncEngine,
) -> None:
    store = ReadStore(engine)
    pool = engine.sync_engine.pool
    before = pool.checkedout()  # type: ignore[attr-defined]
    with checkouts(engine) as taken:
        async with store.reading():
            await some_reads(store)
            await store.set_aside()  # e.g. before a command takes its own connection
            assert pool.checkedout() == before  # type: ignore[attr-defined]
            await some_reads(store)
            assert pool.checkedout() == before + 1  # type: ignore[attr-defined]
    assert len(taken) == 2
    await store.set_aside()  # outside a request: nothing to do


async def test_a_request_never_holds_a_read_connection_while_a_command_waits_for_one(
    engine: AsyncEngine,
) -> None:
    """Reads, a command (another checkout), reads, a command: with a pool of one connection
    and no overflow, holding the read connection across the command would wait forever."""
    tiny = create_engine(
        engine.url.render_as_string(hide_password=False), pool_size=1, max_overflow=0
    )
    store = ReadStore(tiny)
    try:
        async with asyncio.timeout(10), store.reading():
            for _ in range(2):
                await some_reads(store)
                await store.set_aside()
                async with tiny.begin() as command:  # what the unit of work does
                    await command.execute(text("SELECT 1"))
            await some_reads(store)
    finally:
        await tiny.dispose()

"""Creating and dropping test databases on the local PostgreSQL (127.0.0.1:5432)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager

import asyncpg
import pytest

from aequatio.persistence.database import migrate

ADMIN_DSN = os.environ.get(
    "AEQUATIO_TEST_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def asyncpg_url(database: str) -> str:
    base = ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{database}"


async def admin(sql: str) -> None:
    try:
        connection = await asyncpg.connect(ADMIN_DSN, timeout=10)
    except (OSError, asyncpg.PostgresError) as error:
        pytest.fail(f"PostgreSQL at {ADMIN_DSN} is unreachable: {error!r}", pytrace=False)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def unique_name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def drop(name: str) -> str:
    return f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'


@contextmanager
def migrated_template(prefix: str) -> Iterator[str]:
    """The name of a new database migrated to head, dropped on exit.

    Synchronous (each statement in its own event loop) so that a session-scoped fixture can
    hold it; tests copy it with ``copied_database``.
    """
    name = unique_name(prefix)
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        migrate(asyncpg_url(name))
        yield name
    finally:
        asyncio.run(admin(drop(name)))


@asynccontextmanager
async def _database(prefix: str, template: str | None) -> AsyncIterator[str]:
    name = unique_name(prefix)
    copy = "" if template is None else f' TEMPLATE "{template}"'
    await admin(f'CREATE DATABASE "{name}"{copy}')
    try:
        yield asyncpg_url(name)
    finally:
        await admin(drop(name))


def copied_database(template: str, prefix: str) -> AbstractAsyncContextManager[str]:
    """The URL of a new database copied from ``template``, dropped on exit."""
    return _database(prefix, template)


def empty_database(prefix: str) -> AbstractAsyncContextManager[str]:
    """The URL of a new database with no schema at all, dropped on exit."""
    return _database(prefix, None)

"""Creating and dropping test databases on the local PostgreSQL (127.0.0.1:5432)."""

from __future__ import annotations

import os

import asyncpg
import pytest

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

"""Migrations go from empty to head and back, and match the table definitions."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import text

from aequatio.persistence.database import (
    REPOSITORY_ROOT,
    alembic_config,
    create_engine,
    downgrade,
    migrate,
)
from aequatio.persistence.tables import metadata


async def relations(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text(
                    "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace "
                    "AND relkind IN ('r', 'i', 'S') "
                    "UNION SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace"
                )
            )
            return set(rows.scalars())
    finally:
        await engine.dispose()


async def test_upgrade_to_head_then_down_to_base_leaves_nothing(empty_database_url: str) -> None:
    await asyncio.to_thread(migrate, empty_database_url)
    created = await relations(empty_database_url)
    assert set(metadata.tables) <= created
    assert "events_store_refuse_change" in created

    await asyncio.to_thread(downgrade, empty_database_url, "base")
    assert await relations(empty_database_url) <= {"alembic_version", "alembic_version_pkc"}

    await asyncio.to_thread(migrate, empty_database_url)
    assert await relations(empty_database_url) == created


async def test_alembic_check_finds_no_drift_between_tables_and_migrations(
    database_url: str,
) -> None:
    await asyncio.to_thread(command.check, alembic_config(database_url))


def test_plain_alembic_reads_the_database_from_the_environment(database_url: str) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "alembic", "current"],
        cwd=REPOSITORY_ROOT,
        env={**os.environ, "AEQUATIO_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    assert f"{head} (head)" in completed.stdout

"""Alembic environment: async engine on the URL ``aequatio migrate`` passes in, or
``AEQUATIO_DATABASE_URL`` when plain ``alembic`` runs from the repository root."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy import Connection, pool
from sqlalchemy.ext.asyncio import create_async_engine

from aequatio.persistence.tables import metadata as write_metadata
from aequatio.projections.tables import READ_SCHEMA, TRACKING_PARTITION
from aequatio.projections.tables import metadata as read_metadata

config = context.config
target_metadata = [write_metadata, read_metadata]
#: Schemas the migrations own; replay's temporary ``read_rebuild_*`` schemas are not compared.
MANAGED_SCHEMAS = {None, "public", READ_SCHEMA}


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """The managed schemas, and their tables but for the tracking tables' partitions (which
    the migrations and replays manage; the models declare the partitioned tables only)."""
    if type_ == "schema":
        return name in MANAGED_SCHEMAS
    if type_ == "table":
        return not TRACKING_PARTITION.match(name or "")
    return True


def database_url() -> str:
    url = config.attributes.get("database_url") or os.environ.get("AEQUATIO_DATABASE_URL")
    if not url:
        raise SystemExit(
            "AEQUATIO_DATABASE_URL is not set (use `aequatio migrate` for the embedded database)"
        )
    return str(url)


def run_migrations_offline() -> None:
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        compare_type=True,
        include_schemas=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        include_schemas=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_online() -> None:
    engine = create_async_engine(database_url(), poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())

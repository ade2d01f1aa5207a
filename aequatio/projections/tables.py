"""Tables of the read side (PostgreSQL schema ``read``): consumer tracking, then one block per
read model. Created by Alembic migrations; replay copies them into a rebuild schema.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    Uuid,
    text,
)

READ_SCHEMA = "read"

metadata = MetaData(
    schema=READ_SCHEMA,
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    },
)

#: One row per (consumer, event) it applied: a redelivered event is a conflict, skipped.
processed_events = Table(
    "processed_events",
    metadata,
    Column("consumer", Text, nullable=False),
    Column("event_id", Uuid, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("aggregate_id", Uuid, nullable=False),
    Column("aggregate_version", Integer, nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    PrimaryKeyConstraint("consumer", "event_id"),
    Index("ix_processed_events_consumer_position", "consumer", "position"),
)

#: The last version of each aggregate a consumer applied: events apply in version order only.
stream_positions = Table(
    "stream_positions",
    metadata,
    Column("consumer", Text, nullable=False),
    Column("aggregate_id", Uuid, nullable=False),
    Column("version", Integer, nullable=False),
    PrimaryKeyConstraint("consumer", "aggregate_id"),
)

TRACKING_TABLES = (processed_events, stream_positions)

"""Tables of the read side (PostgreSQL schema ``read``): consumer tracking, then one block per
read model. Created by Alembic migrations; replay copies them into a rebuild schema.

The two tracking tables are partitioned by consumer (``LIST``): each consumer the migrations
know has a partition of its own (:func:`tracking_partition`), any other consumer's rows go to
the ``_default`` partition. A replay builds a consumer's tracking rows in a table of their own
and swaps it in whole, as a partition (``aequatio.projections.replay``).
"""

from __future__ import annotations

import re
import zlib

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
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
from sqlalchemy.dialects.postgresql import JSONB

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
    postgresql_partition_by="LIST (consumer)",
)

#: The last version of each aggregate a consumer applied: events apply in version order only.
stream_positions = Table(
    "stream_positions",
    metadata,
    Column("consumer", Text, nullable=False),
    Column("aggregate_id", Uuid, nullable=False),
    Column("version", Integer, nullable=False),
    PrimaryKeyConstraint("consumer", "aggregate_id"),
    postgresql_partition_by="LIST (consumer)",
)

TRACKING_TABLES = (processed_events, stream_positions)
#: A tracking table's partition names: ``<table>__<consumer>`` and ``<table>_default``.
TRACKING_PARTITION = re.compile(r"^(processed_events|stream_positions)_(_\w+|default)$")
_NAME_LENGTH = 63


def tracking_partition(table: Table, consumer: str) -> str:
    """The name of ``consumer``'s partition of ``table``: ``processed_events__projection_balances``
    for ``projection.balances`` (a checksum ends a name too long for PostgreSQL's 63 bytes)."""
    name = f"{table.name}__{re.sub(r'[^a-z0-9]+', '_', consumer.lower()).strip('_')}"
    if len(name) > _NAME_LENGTH - len("_position"):
        name = f"{name[:45]}_{zlib.crc32(consumer.encode()):08x}"
    return name


def _timestamp(name: str, *, nullable: bool = False) -> Column[object]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


def _money(name: str) -> Column[int]:
    """Integer minor units, never floats."""
    return Column(name, BigInteger, nullable=False)


# -- user_directory ---------------------------------------------------------------------------

users = Table(
    "users",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("subject", Text, nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("email", Text, nullable=False),
    _timestamp("registered_at"),
)

# -- group_summary ----------------------------------------------------------------------------

groups = Table(
    "groups",
    metadata,
    Column("group_id", Uuid, primary_key=True),
    Column("name", Text, nullable=False),
    Column("currency", Text, nullable=True),
    Column("owner_id", Uuid, nullable=False),
    _timestamp("created_at"),
    #: Members whose span is open (``left_on IS NULL``).
    Column("member_count", Integer, nullable=False),
)

#: One row per membership span; a member who rejoins gets a second row.
group_members = Table(
    "group_members",
    metadata,
    Column("group_id", Uuid, nullable=False),
    Column("user_id", Uuid, nullable=False),
    Column("joined_on", Date, nullable=False),
    Column("role", Text, nullable=False),
    Column("weight", Integer, nullable=False),
    Column("left_on", Date, nullable=True),
    PrimaryKeyConstraint("group_id", "user_id", "joined_on"),
)

#: What the group spent per currency: non-deleted expenses only.
group_totals = Table(
    "group_totals",
    metadata,
    Column("group_id", Uuid, nullable=False),
    Column("currency", Text, nullable=False),
    _money("total_cents"),
    Column("expense_count", Integer, nullable=False),
    PrimaryKeyConstraint("group_id", "currency"),
)

#: Each counted expense's current amount, so an amendment or deletion can take it back out.
group_expense_amounts = Table(
    "group_expense_amounts",
    metadata,
    Column("expense_id", Uuid, primary_key=True),
    Column("group_id", Uuid, nullable=False),
    Column("currency", Text, nullable=False),
    _money("amount_cents"),
)

# -- expenses ---------------------------------------------------------------------------------

expenses = Table(
    "expenses",
    metadata,
    Column("expense_id", Uuid, primary_key=True),
    Column("group_id", Uuid, nullable=False),
    Column("description", Text, nullable=False),
    Column("category", Text, nullable=True),
    _money("amount_cents"),
    Column("currency", Text, nullable=False),
    Column("incurred_on", Date, nullable=False),
    Column("created_by", Uuid, nullable=False),
    Column("payers", JSONB, nullable=True),
    Column("split", JSONB, nullable=True),
    Column("shares", JSONB, nullable=True),
    Column("postings", JSONB, nullable=False),
    Column("is_adjustment", Boolean, nullable=False),
    Column("status", Text, nullable=False),
    Column("version", Integer, nullable=False),
    _timestamp("created_at"),
    _timestamp("updated_at"),
    #: Keyset pagination of "expenses of a group in a period": (incurred_on, expense_id) > cursor.
    Index("ix_expenses_group_id_incurred_on_expense_id", "group_id", "incurred_on", "expense_id"),
)

# -- balances ---------------------------------------------------------------------------------

#: Paid and owed per member, month and currency; rows that fall back to zero are deleted.
monthly_balances = Table(
    "monthly_balances",
    metadata,
    Column("group_id", Uuid, nullable=False),
    Column("month", Date, nullable=False),
    Column("user_id", Uuid, nullable=False),
    Column("currency", Text, nullable=False),
    _money("paid_cents"),
    _money("owed_cents"),
    _money("net_cents"),
    PrimaryKeyConstraint("group_id", "month", "user_id", "currency"),
)

#: Each expense's current postings, so a change subtracts exactly what it added before.
balance_postings = Table(
    "balance_postings",
    metadata,
    Column("expense_id", Uuid, primary_key=True),
    Column("group_id", Uuid, nullable=False),
    Column("postings", JSONB, nullable=False),
)

# -- splits -----------------------------------------------------------------------------------

splits = Table(
    "splits",
    metadata,
    Column("split_id", Uuid, primary_key=True),
    Column("group_id", Uuid, nullable=False),
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),
    Column("status", Text, nullable=False),
    Column("requested_by", Uuid, nullable=False),
    _timestamp("requested_at"),
    _timestamp("completed_at", nullable=True),
    Column("issue_invoice", Boolean, nullable=False),
    Column("conversion", JSONB, nullable=True),
    Column("per_user_amounts", JSONB, nullable=True),
    Column("transfers", JSONB, nullable=True),
    Column("converted", JSONB, nullable=True),
    Column("adjustments", JSONB, nullable=True),
    Column("failure_code", Text, nullable=True),
    Column("failure_reason", Text, nullable=True),
    Index("ix_splits_group_id_period_start", "group_id", "period_start"),
)

# -- invoices ---------------------------------------------------------------------------------

invoices = Table(
    "invoices",
    metadata,
    Column("invoice_id", Uuid, primary_key=True),
    Column("group_id", Uuid, nullable=False),
    Column("split_id", Uuid, nullable=True),
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),
    #: The conversion currency when the split was converted, else NULL (one line per currency).
    Column("currency", Text, nullable=True),
    Column("lines", JSONB, nullable=False),
    Column("total", JSONB, nullable=False),
    Column("transfers", JSONB, nullable=True),
    Column("adjustments", JSONB, nullable=True),
    Column("status", Text, nullable=False),
    Column("issued_by", Uuid, nullable=True),
    _timestamp("issued_at"),
    _timestamp("paid_at", nullable=True),
    _timestamp("voided_at", nullable=True),
    Column("void_reason", Text, nullable=True),
    Index("ix_invoices_group_id_period_start", "group_id", "period_start"),
)

# -- activity ---------------------------------------------------------------------------------

#: The audit timeline: one row per event, ordered by its event-store position.
activity = Table(
    "activity",
    metadata,
    Column("event_id", Uuid, primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("group_id", Uuid, nullable=True),
    _timestamp("occurred_at"),
    Column("actor", Text, nullable=False),
    Column("actor_user_id", Uuid, nullable=True),
    Column("event_type", Text, nullable=False),
    Column("aggregate_type", Text, nullable=False),
    Column("aggregate_id", Uuid, nullable=False),
    Column("summary", Text, nullable=False),
    Column("details", JSONB, nullable=False),
    Index("ix_activity_group_id_position", "group_id", "position"),
)

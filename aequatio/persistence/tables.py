"""The write model's tables (schema ``public``). Alembic migrations create them; ``alembic check``
keeps this module and the migrations in step.

Aggregate rows carry ``version`` for optimistic concurrency. ``events_store`` is append-only
(a trigger refuses updates and deletes) with a global ``position`` and one row per
``(aggregate_id, aggregate_version)``; ``events_outbox`` references it by position and a
partial index finds the unpublished rows.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _timestamp(name: str, *, nullable: bool = False) -> Column[object]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


users = Table(
    "users",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("subject", Text, nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("email", Text, nullable=False, unique=True),
    _timestamp("registered_at"),
    Column("version", Integer, nullable=False),
)

groups = Table(
    "groups",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", Text, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("owner_id", Uuid, ForeignKey("users.id"), nullable=False),
    _timestamp("created_at"),
    Column("version", Integer, nullable=False),
)

group_members = Table(
    "group_members",
    metadata,
    Column("group_id", Uuid, ForeignKey("groups.id"), nullable=False),
    Column("user_id", Uuid, ForeignKey("users.id"), nullable=False),
    Column("joined_on", Date, nullable=False),
    Column("left_on", Date, nullable=True),
    Column("role", Text, nullable=False),
    Column("weight", Integer, nullable=False),
    PrimaryKeyConstraint("group_id", "user_id", "joined_on"),
    CheckConstraint("role IN ('owner', 'admin', 'member')", name="role"),
    CheckConstraint("weight > 0", name="weight_positive"),
    Index(
        "uq_group_members_active",
        "group_id",
        "user_id",
        unique=True,
        postgresql_where=text("left_on IS NULL"),
    ),
    Index("ix_group_members_user_id", "user_id"),
)

expenses = Table(
    "expenses",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("group_id", Uuid, ForeignKey("groups.id"), nullable=False),
    Column("created_by", Uuid, ForeignKey("users.id"), nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("description", Text, nullable=False),
    Column("category", Text, nullable=True),
    Column("incurred_on", Date, nullable=False),
    Column("payers", JSONB, nullable=False),
    Column("split_rule", JSONB, nullable=False),
    Column("shares", JSONB, nullable=False),
    Column("status", Text, nullable=False),
    _timestamp("created_at"),
    _timestamp("amended_at", nullable=True),
    Column("version", Integer, nullable=False),
    CheckConstraint("amount_cents > 0", name="amount_positive"),
    CheckConstraint("status IN ('active', 'deleted')", name="status"),
    Index("ix_expenses_group_id_incurred_on", "group_id", "incurred_on"),
)

expense_postings = Table(
    "expense_postings",
    metadata,
    Column("expense_id", Uuid, ForeignKey("expenses.id"), nullable=False),
    Column("seq", SmallInteger, nullable=False),
    Column("group_id", Uuid, ForeignKey("groups.id"), nullable=False),
    Column("month", Date, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("paid", JSONB, nullable=False),
    Column("owed", JSONB, nullable=False),
    Column("kind", Text, nullable=False),
    Column("adjusts_month", Date, nullable=True),
    PrimaryKeyConstraint("expense_id", "seq"),
    CheckConstraint("kind IN ('expense', 'adjustment')", name="kind"),
    Index("ix_expense_postings_group_id_month", "group_id", "month"),
)

splits = Table(
    "splits",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("group_id", Uuid, ForeignKey("groups.id"), nullable=False),
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),
    Column("status", Text, nullable=False),
    Column("requested_by", Uuid, ForeignKey("users.id"), nullable=False),
    _timestamp("requested_at"),
    Column("conversion", JSONB, nullable=True),
    Column("issue_invoice", Boolean, nullable=False),
    Column("outcome", JSONB, nullable=True),
    _timestamp("completed_at", nullable=True),
    Column("failure_code", Text, nullable=True),
    Column("failure_reason", Text, nullable=True),
    Column("version", Integer, nullable=False),
    CheckConstraint("status IN ('requested', 'completed', 'failed')", name="status"),
    CheckConstraint("period_end > period_start", name="period"),
    Index(
        "uq_splits_pending_period",
        "group_id",
        "period_start",
        "period_end",
        unique=True,
        postgresql_where=text("status = 'requested'"),
    ),
    Index("ix_splits_group_id_period_start", "group_id", "period_start"),
)

invoices = Table(
    "invoices",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("group_id", Uuid, ForeignKey("groups.id"), nullable=False),
    Column("split_id", Uuid, ForeignKey("splits.id"), nullable=False),
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),
    Column("currency", String(3), nullable=True),
    Column("lines", JSONB, nullable=False),
    Column("totals", JSONB, nullable=False),
    Column("transfers", JSONB, nullable=False),
    Column("adjustments", JSONB, nullable=False),
    Column("status", Text, nullable=False),
    Column("issued_by", Uuid, ForeignKey("users.id"), nullable=False),
    _timestamp("issued_at"),
    _timestamp("status_changed_at", nullable=True),
    Column("void_reason", Text, nullable=True),
    Column("version", Integer, nullable=False),
    CheckConstraint("status IN ('issued', 'paid', 'voided')", name="status"),
    Index(
        "uq_invoices_active_period",
        "group_id",
        "period_start",
        "period_end",
        unique=True,
        postgresql_where=text("status IN ('issued', 'paid')"),
    ),
)

#: Per group and month: the ledger revision and, while closed, the invoice that closed it.
group_periods = Table(
    "group_periods",
    metadata,
    Column("group_id", Uuid, ForeignKey("groups.id"), nullable=False),
    Column("month", Date, nullable=False),
    Column("revision", BigInteger, nullable=False),
    Column("invoice_id", Uuid, ForeignKey("invoices.id"), nullable=True),
    PrimaryKeyConstraint("group_id", "month"),
    CheckConstraint("extract(day FROM month) = 1", name="first_of_month"),
)

events_store = Table(
    "events_store",
    metadata,
    Column("position", BigInteger, Identity(always=True), primary_key=True),
    Column("event_id", Uuid, nullable=False, unique=True),
    Column("event_type", Text, nullable=False),
    Column("event_version", Integer, nullable=False),
    Column("schema_id", Text, nullable=False),
    Column("aggregate_type", Text, nullable=False),
    Column("aggregate_id", Uuid, nullable=False),
    Column("aggregate_version", Integer, nullable=False),
    _timestamp("occurred_at"),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("correlation_id", Uuid, nullable=False),
    Column("causation_id", Uuid, nullable=True),
    Column("trace_id", Text, nullable=True),
    Column("traceparent", Text, nullable=True),
    Column("actor", Text, nullable=False),
    Column("payload", JSONB, nullable=False),
    UniqueConstraint("aggregate_id", "aggregate_version"),
    Index("ix_events_store_correlation_id", "correlation_id"),
    #: Replays and lag measurements read one consumer's event types in position order.
    Index("ix_events_store_event_type_position", "event_type", "position"),
)

events_outbox = Table(
    "events_outbox",
    metadata,
    Column(
        "position",
        BigInteger,
        ForeignKey("events_store.position"),
        primary_key=True,
    ),
    Column("enqueued_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    _timestamp("published_at", nullable=True),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text, nullable=True),
    #: After a failed publish the row waits until then (exponential backoff per row).
    _timestamp("next_attempt_at", nullable=True),
    Index(
        "ix_events_outbox_unpublished",
        "position",
        postgresql_where=text("published_at IS NULL"),
    ),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("subject", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("command", Text, nullable=False),
    Column("fingerprint", Text, nullable=False),
    Column("result", JSONB, nullable=False),
    _timestamp("created_at"),
    PrimaryKeyConstraint("subject", "key"),
    Index("ix_idempotency_keys_created_at", "created_at"),
)

#: The persisted state of each running workflow (saga), keyed by what it correlates on.
saga_states = Table(
    "saga_states",
    metadata,
    Column("saga", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("data", JSONB, nullable=False),
    Column("version", Integer, nullable=False),
    #: When the saga times out if nothing else happened (NULL: no timeout pending).
    _timestamp("deadline", nullable=True),
    _timestamp("updated_at"),
    PrimaryKeyConstraint("saga", "key"),
    Index("ix_saga_states_deadline", "deadline", postgresql_where=text("deadline IS NOT NULL")),
)

#: Tables a command writes, in the order their foreign keys allow.
WRITE_TABLES = (
    users,
    groups,
    group_members,
    expenses,
    expense_postings,
    splits,
    invoices,
    group_periods,
    events_store,
    events_outbox,
    idempotency_keys,
)

OUTBOX_CHANNEL = "aequatio_outbox"

"""tracking partitioned by consumer: a replay swaps a consumer's tracking rows in as a partition

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 21:45:00

``read.processed_events`` and ``read.stream_positions`` become ``PARTITION BY LIST
(consumer)``: a partition per consumer known today (the seven projections, the two sagas), and
a ``_default`` partition for any other. A replay then puts a consumer's rebuilt tracking rows
in place by dropping its partition and attaching the rebuilt table (catalog changes), where it
rewrote up to every one of its rows in the indexed live table while live consumption waited
(11 s for a million events). The rows are copied over once, here.
"""

from collections.abc import Sequence

from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The consumers of this revision (``aequatio.projections.catalog``, ``aequatio.sagas.catalog``)
#: and their partitions' names (``aequatio.projections.tables.tracking_partition``), as literals:
#: a migration must not change when the application's catalog does.
CONSUMERS = {
    'projection.user_directory': 'projection_user_directory',
    'projection.group_summary': 'projection_group_summary',
    'projection.expenses': 'projection_expenses',
    'projection.balances': 'projection_balances',
    'projection.splits': 'projection_splits',
    'projection.invoices': 'projection_invoices',
    'projection.activity': 'projection_activity',
    'saga.split': 'saga_split',
    'saga.invoice': 'saga_invoice',
}

COLUMNS = {
    'processed_events': """
        consumer text NOT NULL,
        event_id uuid NOT NULL,
        event_type text NOT NULL,
        aggregate_id uuid NOT NULL,
        aggregate_version integer NOT NULL,
        position bigint NOT NULL,
        applied_at timestamp with time zone DEFAULT now() NOT NULL,
        CONSTRAINT pk_processed_events PRIMARY KEY (consumer, event_id)
    """,
    'stream_positions': """
        consumer text NOT NULL,
        aggregate_id uuid NOT NULL,
        version integer NOT NULL,
        CONSTRAINT pk_stream_positions PRIMARY KEY (consumer, aggregate_id)
    """,
}
INDEXES = {
    'processed_events': [
        'CREATE INDEX ix_processed_events_consumer_position '
        'ON read.processed_events (consumer, position)'
    ],
    'stream_positions': [],
}


def _timeouts() -> None:
    # Every consumer writes these tables: wait for a lock briefly or fail (and retry the
    # migration), never queue everyone behind a long wait. The copy is as long as the tables.
    op.execute("SET lock_timeout = '5s'")
    op.execute("SET statement_timeout = '30min'")


def _rebuild(table: str, partitioned: bool) -> None:
    """Replace ``read.<table>`` by a partitioned (or a plain) table holding the same rows."""
    old = f'{table}_before_0006'
    # Renamed out of the way in the transaction that creates the new table under the old names:
    # no client ever sees a name missing.
    renamed = '-- squawk-ignore renaming-table, renaming-object\n'
    op.execute(f'{renamed}ALTER TABLE read.{table} RENAME TO {old}')
    op.execute(f'{renamed}ALTER TABLE read.{old} RENAME CONSTRAINT pk_{table} TO pk_{old}')
    if table == 'processed_events':
        op.execute(
            f'{renamed}ALTER INDEX read.ix_processed_events_consumer_position '
            f'RENAME TO ix_{old}_consumer_position'
        )
    tail = ' PARTITION BY LIST (consumer)' if partitioned else ''
    op.execute(f'CREATE TABLE read.{table} ({COLUMNS[table]}){tail}')
    for index in INDEXES[table]:
        # A new, empty table (its partitions inherit the index as they are created).
        op.execute(f'-- squawk-ignore require-concurrent-index-creation\n{index}')
    if partitioned:
        op.execute(f'CREATE TABLE read.{table}_default PARTITION OF read.{table} DEFAULT')
        for consumer, slug in CONSUMERS.items():
            op.execute(
                f"CREATE TABLE read.{table}__{slug} PARTITION OF read.{table} "
                f"FOR VALUES IN ('{consumer}')"
            )
    op.execute(f'INSERT INTO read.{table} SELECT * FROM read.{old}')  # noqa: S608
    # The rows are in the new table (same transaction): the old one goes.
    op.execute(f'-- squawk-ignore ban-drop-table\nDROP TABLE read.{old}')


def upgrade() -> None:
    _timeouts()
    for table in COLUMNS:
        _rebuild(table, partitioned=True)


def downgrade() -> None:
    _timeouts()
    for table in COLUMNS:
        _rebuild(table, partitioned=False)

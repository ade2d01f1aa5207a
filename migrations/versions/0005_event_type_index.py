"""event type index: reading one consumer's events in position order (replay, lag metrics)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 20:22:12.035861
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The event store can be large and is written all the time: build without blocking writes.
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_events_store_event_type_position",
            "events_store",
            ["event_type", "position"],
            unique=False,
            postgresql_concurrently=True,
            if_not_exists=True,
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index(
            "ix_events_store_event_type_position",
            table_name="events_store",
            postgresql_concurrently=True,
            if_exists=True,
        )

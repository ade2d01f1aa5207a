"""Monthly balances recomputed from the event store alone: the oracle for ``read.monthly_balances``.

It shares no code with the ``balances`` projection: it folds each expense's stream to its last
posting list (``expense.created``, ``expense.amended`` and ``expense.deleted`` each carry the
complete current list) and sums those. Both functions return only non-zero positions, so a
balance the projection deleted at zero and one it never had compare equal.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from aequatio.events.catalog import EVENTS
from aequatio.events.common import PostingData
from aequatio.events.expenses import ExpenseAmended, ExpenseCreated, ExpenseDeleted
from aequatio.persistence.event_store import envelope_of
from aequatio.persistence.tables import events_store
from aequatio.projections.tables import monthly_balances

#: ``(group_id, month, user_id, currency)``
BalanceKey = tuple[UUID, date, UUID, str]
#: Key -> ``(paid_cents, owed_cents)``, non-zero positions only.
Balances = dict[BalanceKey, tuple[int, int]]


async def recompute_balances(connection: AsyncConnection) -> Balances:
    """What the balances must be, given every expense event stored so far."""
    current = await _current_postings(connection)
    paid: dict[BalanceKey, int] = defaultdict(int)
    owed: dict[BalanceKey, int] = defaultdict(int)
    for group_id, postings in current.values():
        for posting in postings:
            for entry in posting.paid:
                paid[(group_id, posting.month, entry.user_id, posting.currency)] += (
                    entry.amount_cents
                )
            for entry in posting.owed:
                owed[(group_id, posting.month, entry.user_id, posting.currency)] += (
                    entry.amount_cents
                )
    return _non_zero({key: (paid[key], owed[key]) for key in set(paid) | set(owed)})


async def projected_balances(connection: AsyncConnection) -> Balances:
    """What ``read.monthly_balances`` holds, in the same shape."""
    rows = await connection.execute(select(monthly_balances))
    return _non_zero(
        {
            (row.group_id, row.month, row.user_id, row.currency): (row.paid_cents, row.owed_cents)
            for row in rows
        }
    )


async def _current_postings(
    connection: AsyncConnection,
) -> dict[UUID, tuple[UUID, list[PostingData]]]:
    """Expense id -> (group id, its last posting list), folding each stream in version order."""
    rows = await connection.execute(
        select(events_store)
        .where(events_store.c.aggregate_type == "expense")
        .order_by(events_store.c.aggregate_id, events_store.c.aggregate_version)
    )
    current: dict[UUID, tuple[UUID, list[PostingData]]] = {}
    for row in rows:
        envelope = envelope_of(row)
        payload = EVENTS.payload_of(envelope)
        expense_id = envelope.aggregate_id
        if isinstance(payload, ExpenseCreated):
            current[expense_id] = (payload.group_id, list(payload.postings or []))
        elif isinstance(payload, ExpenseAmended) and payload.postings is not None:
            current[expense_id] = (current[expense_id][0], list(payload.postings))
        elif isinstance(payload, ExpenseDeleted):
            current[expense_id] = (payload.group_id, list(payload.postings))
    return current


def _non_zero(balances: Balances) -> Balances:
    return {key: value for key, value in balances.items() if value != (0, 0)}

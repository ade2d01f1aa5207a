"""``read.monthly_balances``: paid, owed and net per group, month, member and currency.

Balances are the sum of every expense's *current* postings. Each expense event carries its
complete new posting list, and ``read.balance_postings`` remembers the previous one, so an
event moves the balances by ``new - old``. Expenses of one group arrive interleaved in any
order, but they only ever add deltas, and a sum does not depend on the order of its terms.

A balance whose paid and owed both come back to zero is deleted, so the table holds exactly
the non-zero positions (whatever order led there).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from uuid import UUID

from pydantic import TypeAdapter
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from aequatio.events.base import EventPayload
from aequatio.events.common import PostingData
from aequatio.events.envelope import Envelope
from aequatio.events.expenses import ExpenseAmended, ExpenseCreated, ExpenseDeleted
from aequatio.projections.base import Projection
from aequatio.projections.common import amended_state, determined, json_list, upsert
from aequatio.projections.tables import balance_postings, monthly_balances

#: ``(group_id, month, user_id, currency)``
BalanceKey = tuple[UUID, date, UUID, str]

_posting_list = TypeAdapter(list[PostingData])


class Balances(Projection):
    name = "balances"
    patterns = ("expenses.expense.*",)
    tables = (monthly_balances, balance_postings)

    async def apply(
        self, connection: AsyncConnection, envelope: Envelope, payload: EventPayload
    ) -> None:
        match payload:
            case ExpenseCreated():
                await _rebook(connection, envelope.aggregate_id, payload.group_id, payload.postings)
            case ExpenseAmended():
                state = amended_state(payload)
                # Postings are the complete new list; an amendment without them moves nothing.
                if determined(state, "postings") and state.postings is not None:
                    await _rebook(connection, envelope.aggregate_id, state.group_id, state.postings)
            case ExpenseDeleted():
                await _rebook(connection, envelope.aggregate_id, payload.group_id, payload.postings)


def effect(group_id: UUID, postings: Iterable[PostingData]) -> dict[BalanceKey, tuple[int, int]]:
    """What postings add to the balances: ``(paid, owed)`` per key, zero entries left out."""
    paid: dict[BalanceKey, int] = defaultdict(int)
    owed: dict[BalanceKey, int] = defaultdict(int)
    for posting in postings:
        for entry in posting.paid:
            paid[(group_id, posting.month, entry.user_id, posting.currency)] += entry.amount_cents
        for entry in posting.owed:
            owed[(group_id, posting.month, entry.user_id, posting.currency)] += entry.amount_cents
    return {
        key: (paid.get(key, 0), owed.get(key, 0))
        for key in set(paid) | set(owed)
        if paid.get(key, 0) or owed.get(key, 0)
    }


async def _rebook(
    connection: AsyncConnection,
    expense_id: UUID,
    group_id: UUID | None,
    postings: list[PostingData] | None,
) -> None:
    """Replace the expense's postings: take the old ones out of the balances, put the new in.

    ``group_id`` may be unknown (an amendment in the v1 seed shape): the expense keeps the
    group its earlier postings were booked in.
    """
    row = (
        await connection.execute(
            select(balance_postings.c.group_id, balance_postings.c.postings).where(
                balance_postings.c.expense_id == expense_id
            )
        )
    ).first()
    old = effect(row.group_id, _posting_list.validate_python(row.postings)) if row else {}
    group_id = group_id or (row.group_id if row else None)
    if group_id is None:
        return
    new = effect(group_id, postings or [])
    # Sorted keys: concurrent appliers lock balance rows in one order and cannot deadlock.
    for key in sorted(set(old) | set(new)):
        new_paid, new_owed = new.get(key, (0, 0))
        old_paid, old_owed = old.get(key, (0, 0))
        if (new_paid, new_owed) != (old_paid, old_owed):
            await _add(connection, key, new_paid - old_paid, new_owed - old_owed)
    await connection.execute(
        upsert(
            balance_postings,
            {"expense_id": expense_id, "group_id": group_id, "postings": json_list(postings or [])},
            key=("expense_id",),
        )
    )


async def _add(connection: AsyncConnection, key: BalanceKey, paid: int, owed: int) -> None:
    """Increment one balance; delete it when it is back at zero."""
    group_id, month, user_id, currency = key
    statement = pg_insert(monthly_balances).values(
        group_id=group_id,
        month=month,
        user_id=user_id,
        currency=currency,
        paid_cents=paid,
        owed_cents=owed,
        net_cents=paid - owed,
    )
    excluded = statement.excluded
    row = (
        await connection.execute(
            statement.on_conflict_do_update(
                index_elements=["group_id", "month", "user_id", "currency"],
                set_={
                    "paid_cents": monthly_balances.c.paid_cents + excluded.paid_cents,
                    "owed_cents": monthly_balances.c.owed_cents + excluded.owed_cents,
                    "net_cents": monthly_balances.c.net_cents + excluded.net_cents,
                },
            ).returning(monthly_balances.c.paid_cents, monthly_balances.c.owed_cents)
        )
    ).one()
    if row.paid_cents == 0 and row.owed_cents == 0:
        await connection.execute(
            delete(monthly_balances).where(
                monthly_balances.c.group_id == group_id,
                monthly_balances.c.month == month,
                monthly_balances.c.user_id == user_id,
                monthly_balances.c.currency == currency,
            )
        )

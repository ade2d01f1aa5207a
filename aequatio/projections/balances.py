"""``read.monthly_balances``: paid, owed and net per group, month, member and currency.

Balances are the sum of every expense's *current* postings. Each expense event carries its
complete new posting list, and ``read.balance_postings`` remembers the previous one, so an
event moves the balances by ``new - old``. Expenses of one group arrive interleaved in any
order, but they only ever add deltas, and a sum does not depend on the order of its terms.

A balance whose paid and owed both come back to zero is deleted, so the table holds exactly
the non-zero positions (whatever order led there).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any
from uuid import UUID

from pydantic import TypeAdapter
from sqlalchemy import ARRAY, Text, Uuid, any_, bindparam, cast, delete, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from aequatio.events.base import EventPayload
from aequatio.events.common import PostingData
from aequatio.events.envelope import Envelope
from aequatio.events.expenses import ExpenseAmended, ExpenseCreated, ExpenseDeleted
from aequatio.persistence.driver import DriverSql, DriverStatement
from aequatio.projections.base import Projection
from aequatio.projections.common import amended_state, determined, uuid_order
from aequatio.projections.tables import balance_postings, monthly_balances

#: ``(group_id, month, user_id, currency)``, the ids as their 128-bit integers: the fold hashes
#: and compares a key per posting entry, and ``uuid.UUID`` does both in Python (``__hash__``,
#: ``__eq__``: two fifths of a replay's fold). Integers sort as PostgreSQL sorts the uuids.
BalanceKey = tuple[int, date, int, str]

_posting_list = TypeAdapter(list[PostingData])


class Balances(Projection):
    name = "balances"
    patterns = ("expenses.expense.*",)
    tables = (monthly_balances, balance_postings)

    async def apply(
        self, connection: AsyncConnection, envelope: Envelope, payload: EventPayload
    ) -> None:
        await self.apply_many(connection, [(envelope, payload)])

    async def apply_many(
        self, connection: AsyncConnection, items: Sequence[tuple[Envelope, EventPayload]]
    ) -> None:
        """Fold the batch into its net effect: one read of the expenses' booked postings, one
        upsert of every balance it moves, one of the expenses' new postings."""
        rebookings = [
            rebooking for envelope, payload in items if (rebooking := _rebooking(envelope, payload))
        ]
        if rebookings:
            await _rebook(connection, rebookings)


#: An expense's new postings: ``(expense_id, group_id or None if unknown, postings)``.
Rebooking = tuple[UUID, UUID | None, list[PostingData]]


def _rebooking(envelope: Envelope, payload: EventPayload) -> Rebooking | None:
    match payload:
        case ExpenseCreated():
            return envelope.aggregate_id, payload.group_id, payload.postings or []
        case ExpenseAmended():
            state = amended_state(payload)
            # Postings are the complete new list; an amendment without them moves nothing.
            if determined(state, "postings") and state.postings is not None:
                return envelope.aggregate_id, state.group_id, state.postings
        case ExpenseDeleted():
            return envelope.aggregate_id, payload.group_id, payload.postings or []
    return None


def _fold(
    moves: dict[BalanceKey, list[int]], group_id: UUID, postings: Iterable[PostingData], sign: int
) -> None:
    """Add ``sign`` times what ``postings`` contribute to ``moves`` (``[paid, owed]`` per key),
    straight into the batch's moves, with no dictionaries of its own."""
    group = group_id.int
    for posting in postings:
        month, currency = posting.month, posting.currency
        for entry in posting.paid:
            key = (group, month, entry.user_id.int, currency)
            if (move := moves.get(key)) is None:
                move = moves[key] = [0, 0]
            move[0] += sign * entry.amount_cents
        for entry in posting.owed:
            key = (group, month, entry.user_id.int, currency)
            if (move := moves.get(key)) is None:
                move = moves[key] = [0, 0]
            move[1] += sign * entry.amount_cents


async def _rebook(connection: AsyncConnection, rebookings: Sequence[Rebooking]) -> None:
    """Replace each expense's postings in turn: take the old ones out of the balances, put the
    new in; then write the summed moves and the final postings.

    A group id may be unknown (an amendment in the v1 seed shape): the expense keeps the group
    its earlier postings were booked in; an expense never booked and of no known group moves
    nothing. The moves are what the new postings add less what the old ones did, folded in one
    pass; the postings are written as JSON text made by pydantic-core in one call (no
    ``model_dump`` to dictionaries, then ``json.dumps`` of those), in one statement.
    """
    expense_ids = [
        expense_id
        for expense_id, _ in sorted(
            {expense_id: None for expense_id, _, _ in rebookings}.items(), key=uuid_order
        )
    ]
    booked: dict[UUID, tuple[UUID, list[PostingData]]] = {
        row.expense_id: (row.group_id, _posting_list.validate_json(row.postings))
        for row in await DriverSql(connection).rows(_BOOKED, {"expense_ids": expense_ids})
    }
    moves: dict[BalanceKey, list[int]] = {}
    rebooked: dict[UUID, tuple[UUID, list[PostingData]]] = {}
    for expense_id, given_group, postings in rebookings:
        old_group, old_postings = booked.get(expense_id, (None, []))
        group_id = given_group or old_group
        if group_id is None:
            continue
        if old_group is not None:
            _fold(moves, old_group, old_postings, -1)
        _fold(moves, group_id, postings, 1)
        booked[expense_id] = rebooked[expense_id] = (group_id, postings)
    await _add(
        connection, {key: (paid, owed) for key, (paid, owed) in moves.items() if paid or owed}
    )
    if rebooked:
        ordered = sorted(rebooked.items(), key=uuid_order)
        await DriverSql(connection).execute(
            _BOOK,
            {
                "expense_ids": [expense_id for expense_id, _ in ordered],
                "group_ids": [group_id for _, (group_id, _) in ordered],
                "postings": [
                    _posting_list.dump_json(postings).decode() for _, (_, postings) in ordered
                ],
            },
        )


_BOOKED = DriverStatement(
    select(
        balance_postings.c.expense_id,
        balance_postings.c.group_id,
        cast(balance_postings.c.postings, Text).label("postings"),
    ).where(balance_postings.c.expense_id == any_(bindparam("expense_ids", type_=ARRAY(Uuid))))
)

_book = pg_insert(balance_postings).from_select(
    ["expense_id", "group_id", "postings"],
    select(
        func.unnest(bindparam("expense_ids", type_=ARRAY(Uuid))),
        func.unnest(bindparam("group_ids", type_=ARRAY(Uuid))),
        cast(func.unnest(bindparam("postings", type_=ARRAY(Text))), JSONB),
    ),
)
#: Every expense's new postings, in one statement (expense ids are distinct: one row each).
_BOOK = DriverStatement(
    _book.on_conflict_do_update(
        index_elements=["expense_id"],
        set_={"group_id": _book.excluded.group_id, "postings": _book.excluded.postings},
    )
)


def _column(name: str) -> Any:
    column = monthly_balances.c[name]
    return func.unnest(bindparam(f"{name}s", type_=ARRAY(column.type))).label(name)


_KEY = ("group_id", "month", "user_id", "currency")
_moved = pg_insert(monthly_balances).from_select(
    [*_KEY, "paid_cents", "owed_cents", "net_cents"],
    select(*(_column(name) for name in (*_KEY, "paid_cents", "owed_cents", "net_cents"))),
)
#: Every balance the batch moves, in one statement: inserted, or incremented in place.
_MOVE = DriverStatement(
    _moved.on_conflict_do_update(
        index_elements=list(_KEY),
        set_={
            name: monthly_balances.c[name] + _moved.excluded[name]
            for name in ("paid_cents", "owed_cents", "net_cents")
        },
    ).returning(*(monthly_balances.c[name] for name in (*_KEY, "paid_cents", "owed_cents")))
)
_SETTLED = DriverStatement(
    delete(monthly_balances).where(
        *(monthly_balances.c[name] == bindparam(name) for name in _KEY),
        monthly_balances.c.paid_cents == 0,
        monthly_balances.c.owed_cents == 0,
    )
)


async def _add(connection: AsyncConnection, moves: dict[BalanceKey, tuple[int, int]]) -> None:
    """Move the balances by ``moves``; delete those back at zero.

    Sorted keys: concurrent appliers lock balance rows in one order and cannot deadlock.
    """
    if not moves:
        return
    keys = sorted(moves)
    sql = DriverSql(connection)
    rows = await sql.rows(
        _MOVE,
        {
            "group_ids": [UUID(int=key[0]) for key in keys],
            "months": [key[1] for key in keys],
            "user_ids": [UUID(int=key[2]) for key in keys],
            "currencys": [key[3] for key in keys],
            "paid_centss": [moves[key][0] for key in keys],
            "owed_centss": [moves[key][1] for key in keys],
            "net_centss": [moves[key][0] - moves[key][1] for key in keys],
        },
    )
    settled = [
        {name: getattr(row, name) for name in _KEY}
        for row in rows
        if row.paid_cents == 0 and row.owed_cents == 0
    ]
    if settled:
        await sql.execute_many(_SETTLED, settled)

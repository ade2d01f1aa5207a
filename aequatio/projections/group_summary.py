"""``read.groups``, ``read.group_members`` and ``read.group_totals``: a group at a glance.

Membership comes from the group's own stream, so it is always applied in order. Totals come
from many expense streams in any interleaving: each expense only ever *adds a delta* (its new
amount minus the amount it contributed before, remembered in ``read.group_expense_amounts``),
and sums of deltas do not depend on the order they arrive in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from uuid import UUID

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from aequatio.events.base import EventPayload
from aequatio.events.envelope import Envelope
from aequatio.events.expenses import ExpenseAmended, ExpenseCreated, ExpenseDeleted
from aequatio.events.groups import GroupCreated, GroupMemberData, MemberAdded, MemberRemoved
from aequatio.persistence.driver import DriverSql, DriverStatement
from aequatio.projections.base import Projection
from aequatio.projections.common import amended_state, upsert, upsert_many
from aequatio.projections.tables import group_expense_amounts, group_members, group_totals, groups


@dataclass(frozen=True, slots=True)
class Counted:
    """What one expense contributes to its group's totals."""

    group_id: UUID
    currency: str
    amount_cents: int


class GroupSummary(Projection):
    name = "group_summary"
    patterns = ("groups.group.*", "expenses.expense.*")
    tables = (groups, group_members, group_totals, group_expense_amounts)

    async def apply_many(
        self, connection: AsyncConnection, items: Sequence[tuple[Envelope, EventPayload]]
    ) -> None:
        """New expenses are counted together (their totals moved once, their amounts written in
        one ``executemany``); any other event first writes the new ones before it, so every
        table sees its events in order."""
        created: dict[UUID, Counted] = {}
        for envelope, payload in items:
            if isinstance(payload, ExpenseCreated):
                counted = Counted(payload.group_id, payload.currency, payload.amount_cents)
                created[envelope.aggregate_id] = counted
                continue
            await _count_new(connection, created)
            await self.apply(connection, envelope, payload)
        await _count_new(connection, created)

    async def apply(
        self, connection: AsyncConnection, envelope: Envelope, payload: EventPayload
    ) -> None:
        match payload:
            case GroupCreated():
                await _group_created(connection, envelope, payload)
            case MemberAdded():
                await _join(connection, envelope.aggregate_id, payload)
                await _refresh_member_count(connection, envelope.aggregate_id)
            case MemberRemoved():
                await _leave(connection, envelope.aggregate_id, payload.user_id, payload.left_on)
                await _refresh_member_count(connection, envelope.aggregate_id)
            case ExpenseCreated():
                counted = Counted(payload.group_id, payload.currency, payload.amount_cents)
                await _recount(connection, envelope.aggregate_id, before=None, after=counted)
            case ExpenseAmended():
                before = await _counted(connection, envelope.aggregate_id)
                after = _amended(amended_state(payload), before)
                await _recount(connection, envelope.aggregate_id, before=before, after=after)
            case ExpenseDeleted():
                before = await _counted(connection, envelope.aggregate_id)
                await _recount(connection, envelope.aggregate_id, before=before, after=None)


# -- membership -------------------------------------------------------------------------------


async def _group_created(
    connection: AsyncConnection, envelope: Envelope, payload: GroupCreated
) -> None:
    group_id = envelope.aggregate_id
    await connection.execute(
        upsert(
            groups,
            {
                "group_id": group_id,
                "name": payload.name,
                "currency": payload.currency,
                "owner_id": payload.owner_id,
                "created_at": envelope.occurred_at,
                "member_count": 0,
            },
            key=("group_id",),
        )
    )
    for member in payload.members:
        # v1 makes a founding member's joined_on optional: the group's creation day stands in.
        joined_on = member.joined_on or envelope.occurred_at.date()
        await _join(connection, group_id, member.model_copy(update={"joined_on": joined_on}))
    await _refresh_member_count(connection, group_id)


async def _join(
    connection: AsyncConnection, group_id: UUID, member: GroupMemberData | MemberAdded
) -> None:
    """Open a membership span (a rejoining member gets a new one)."""
    await connection.execute(
        upsert(
            group_members,
            {
                "group_id": group_id,
                "user_id": member.user_id,
                "joined_on": member.joined_on,
                "role": member.role,
                "weight": member.weight,
                "left_on": None,
            },
            key=("group_id", "user_id", "joined_on"),
        )
    )


async def _leave(connection: AsyncConnection, group_id: UUID, user_id: UUID, left_on: date) -> None:
    """Close the member's open span (there is at most one)."""
    await connection.execute(
        update(group_members)
        .where(
            group_members.c.group_id == group_id,
            group_members.c.user_id == user_id,
            group_members.c.left_on.is_(None),
        )
        .values(left_on=left_on)
    )


async def _refresh_member_count(connection: AsyncConnection, group_id: UUID) -> None:
    """Recount instead of incrementing: membership is the group's own, ordered stream."""
    active = (
        select(func.count())
        .select_from(group_members)
        .where(group_members.c.group_id == group_id, group_members.c.left_on.is_(None))
        .scalar_subquery()
    )
    await connection.execute(
        update(groups).where(groups.c.group_id == group_id).values(member_count=active)
    )


# -- totals -----------------------------------------------------------------------------------

#: What each expense contributes, remembered for its next change (one row or a batch's rows).
_REMEMBER = DriverStatement(
    upsert_many(
        group_expense_amounts,
        ("expense_id", "group_id", "currency", "amount_cents"),
        ("expense_id",),
    )
)


async def _counted(connection: AsyncConnection, expense_id: UUID) -> Counted | None:
    row = (
        await connection.execute(
            select(
                group_expense_amounts.c.group_id,
                group_expense_amounts.c.currency,
                group_expense_amounts.c.amount_cents,
            ).where(group_expense_amounts.c.expense_id == expense_id)
        )
    ).first()
    return None if row is None else Counted(row.group_id, row.currency, row.amount_cents)


def _amended(payload: ExpenseAmended, before: Counted | None) -> Counted | None:
    """The expense's contribution after an amendment; what it leaves out keeps its value.

    An expense never moves to another group. Without a counted ``before`` (a deleted expense
    is never amended) there is nothing to move.
    """
    if before is None:
        return None
    return Counted(
        group_id=before.group_id,
        currency=payload.currency or before.currency,
        amount_cents=before.amount_cents if payload.amount_cents is None else payload.amount_cents,
    )


async def _recount(
    connection: AsyncConnection,
    expense_id: UUID,
    *,
    before: Counted | None,
    after: Counted | None,
) -> None:
    """Move the totals by ``after - before`` and remember ``after`` for the next change."""
    deltas: dict[tuple[UUID, str], list[int]] = defaultdict(lambda: [0, 0])
    if before is not None:
        deltas[(before.group_id, before.currency)][0] -= before.amount_cents
        deltas[(before.group_id, before.currency)][1] -= 1
    if after is not None:
        deltas[(after.group_id, after.currency)][0] += after.amount_cents
        deltas[(after.group_id, after.currency)][1] += 1
    # Sorted keys: concurrent appliers lock total rows in one order and cannot deadlock.
    for (group_id, currency), (amount, count) in sorted(deltas.items()):
        if amount or count:
            await _add_to_total(connection, group_id, currency, amount, count)
    if after is None:
        await connection.execute(
            delete(group_expense_amounts).where(group_expense_amounts.c.expense_id == expense_id)
        )
    else:
        await DriverSql(connection).execute(
            _REMEMBER,
            {
                "expense_id": expense_id,
                "group_id": after.group_id,
                "currency": after.currency,
                "amount_cents": after.amount_cents,
            },
        )


async def _count_new(connection: AsyncConnection, created: dict[UUID, Counted]) -> None:
    """Count the new expenses gathered so far (none counted before), and forget them."""
    if not created:
        return
    totals: dict[tuple[UUID, str], list[int]] = defaultdict(lambda: [0, 0])
    for counted in created.values():
        totals[(counted.group_id, counted.currency)][0] += counted.amount_cents
        totals[(counted.group_id, counted.currency)][1] += 1
    for (group_id, currency), (amount, count) in sorted(totals.items()):
        await _add_to_total(connection, group_id, currency, amount, count)
    await DriverSql(connection).execute_many(
        _REMEMBER,
        [
            {
                "expense_id": expense_id,
                "group_id": counted.group_id,
                "currency": counted.currency,
                "amount_cents": counted.amount_cents,
            }
            for expense_id, counted in sorted(created.items())
        ],
    )
    created.clear()


_added = pg_insert(group_totals).values(
    group_id=bindparam("group_id"),
    currency=bindparam("currency"),
    total_cents=bindparam("amount"),
    expense_count=bindparam("count"),
)
#: One total moved (inserted, or incremented in place), returning the expense count it is at.
_ADD_TO_TOTAL = DriverStatement(
    _added.on_conflict_do_update(
        index_elements=["group_id", "currency"],
        set_={
            "total_cents": group_totals.c.total_cents + _added.excluded.total_cents,
            "expense_count": group_totals.c.expense_count + _added.excluded.expense_count,
        },
    ).returning(group_totals.c.expense_count)
)
_DROP_EMPTY_TOTAL = DriverStatement(
    delete(group_totals).where(
        group_totals.c.group_id == bindparam("group_id"),
        group_totals.c.currency == bindparam("currency"),
        group_totals.c.expense_count == 0,
    )
)


async def _add_to_total(
    connection: AsyncConnection, group_id: UUID, currency: str, amount: int, count: int
) -> None:
    """Increment one total; a currency the group no longer has any expense in disappears.

    Statements built once: building and running them through SQLAlchemy per event (two per
    expense) took 6% of a worker's py-spy samples at 50 mutations/s, the most of any one
    function; the delete runs only when the count reached zero.
    """
    sql = DriverSql(connection)
    key = {"group_id": group_id, "currency": currency}
    moved = await sql.first(_ADD_TO_TOTAL, {**key, "amount": amount, "count": count})
    if moved is not None and moved.expense_count == 0:
        await sql.execute(_DROP_EMPTY_TOTAL, key)

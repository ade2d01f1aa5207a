"""Expenses and their postings (one row per month and currency an expense counts in)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from aequatio.application.ports import ExpenseRepository
from aequatio.domain.calendar import Month, Period
from aequatio.domain.expense import Expense, ExpenseStatus
from aequatio.domain.ledger import Posting, PostingKind
from aequatio.domain.serialization import (
    amounts_data,
    amounts_from,
    payers_data,
    payers_from,
    rule_data,
    rule_from,
)
from aequatio.events.common import SplitRuleData
from aequatio.persistence import json_columns
from aequatio.persistence.concurrency import require_updated
from aequatio.persistence.driver import DriverSql, DriverStatement
from aequatio.persistence.tables import expense_postings, expenses

# Built once; each save binds its rows (postings as one executemany).
_INSERT_EXPENSE = DriverStatement(insert(expenses))
_INSERT_POSTINGS = DriverStatement(insert(expense_postings))


def _posting(row: Any) -> Posting:
    return Posting(
        month=Month.parse(row.month),
        currency=row.currency,
        paid=amounts_from(json_columns.member_amounts(row.paid)),
        owed=amounts_from(json_columns.member_amounts(row.owed)),
        kind=PostingKind(row.kind),
        adjusts_month=Month.parse(row.adjusts_month) if row.adjusts_month else None,
    )


class SqlExpenseRepository(ExpenseRepository):
    def __init__(self, connection: AsyncConnection) -> None:
        super().__init__()
        self._connection = connection

    async def get(self, expense_id: UUID) -> Expense | None:
        row = (
            await self._connection.execute(select(expenses).where(expenses.c.id == expense_id))
        ).first()
        if row is None:
            return None
        posting_rows = await self._connection.execute(
            select(expense_postings)
            .where(expense_postings.c.expense_id == expense_id)
            .order_by(expense_postings.c.seq)
        )
        return self._track(
            Expense(
                id=row.id,
                version=row.version,
                stored_version=row.version,
                group_id=row.group_id,
                created_by=row.created_by,
                amount=row.amount_cents,
                currency=row.currency,
                description=row.description,
                category=row.category,
                incurred_on=row.incurred_on,
                payers=payers_from(json_columns.member_amounts(row.payers)),
                rule=rule_from(SplitRuleData.model_validate(row.split_rule)),
                shares=amounts_from(json_columns.member_amounts(row.shares)),
                status=ExpenseStatus(row.status),
                created_at=row.created_at,
                amended_at=row.amended_at,
                postings=[_posting(posting) for posting in posting_rows],
            )
        )

    async def postings_for(self, group_id: UUID, period: Period) -> list[tuple[UUID, Posting]]:
        rows = await self._connection.execute(
            select(expense_postings)
            .where(
                expense_postings.c.group_id == group_id,
                expense_postings.c.month >= period.start,
                expense_postings.c.month < period.end,
            )
            .order_by(expense_postings.c.expense_id, expense_postings.c.seq)
        )
        return [(row.expense_id, _posting(row)) for row in rows]

    async def _save(self, expense: Expense) -> None:
        values = {
            "group_id": expense.group_id,
            "created_by": expense.created_by,
            "amount_cents": expense.amount,
            "currency": expense.currency,
            "description": expense.description,
            "category": expense.category,
            "incurred_on": expense.incurred_on,
            "payers": json_columns.dump(payers_data(expense.payers)),
            "split_rule": rule_data(expense.rule).model_dump(mode="json"),
            "shares": json_columns.dump(amounts_data(expense.shares)),
            "status": expense.status.value,
            "created_at": expense.created_at,
            "amended_at": expense.amended_at,
            "version": expense.version,
        }
        if expense.is_new:
            await DriverSql(self._connection).execute(_INSERT_EXPENSE, {"id": expense.id, **values})
        else:
            result = await self._connection.execute(
                update(expenses)
                .where(expenses.c.id == expense.id, expenses.c.version == expense.stored_version)
                .values(**values)
            )
            require_updated(result, expense)
            await self._connection.execute(
                delete(expense_postings).where(expense_postings.c.expense_id == expense.id)
            )
        if expense.postings:
            await DriverSql(self._connection).execute_many(
                _INSERT_POSTINGS,
                [
                    {
                        "expense_id": expense.id,
                        "seq": seq,
                        "group_id": expense.group_id,
                        "month": posting.month.first_day,
                        "currency": posting.currency,
                        "paid": json_columns.dump(amounts_data(posting.paid)),
                        "owed": json_columns.dump(amounts_data(posting.owed)),
                        "kind": posting.kind.value,
                        "adjusts_month": (
                            posting.adjusts_month.first_day if posting.adjusts_month else None
                        ),
                    }
                    for seq, posting in enumerate(expense.postings)
                ],
            )

"""``read.expenses``: each expense as it stands now, for lists per group and period.

Every expense event carries the state it leaves behind (``expense.amended`` the full new
state, ``expense.deleted`` the postings that remain), so a row is simply overwritten with it;
nothing here depends on another aggregate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from aequatio.events.base import EventPayload
from aequatio.events.common import PostingData
from aequatio.events.envelope import Envelope
from aequatio.events.expenses import ExpenseAmended, ExpenseCreated, ExpenseDeleted
from aequatio.persistence.driver import DriverSql, DriverStatement
from aequatio.projections.base import Projection
from aequatio.projections.common import (
    amended_state,
    determined,
    json_list,
    json_object,
    upsert_many,
)
from aequatio.projections.tables import expenses

#: Amended fields copied as they are; the JSON ones and ``postings`` are converted below.
_PLAIN_FIELDS = ("amount_cents", "currency", "description", "category", "incurred_on")
#: The only plain field an amendment may clear; a null anywhere else means "not stated".
_CLEARABLE = frozenset({"category"})


class Expenses(Projection):
    name = "expenses"
    patterns = ("expenses.expense.*",)
    tables = (expenses,)

    async def apply(
        self, connection: AsyncConnection, envelope: Envelope, payload: EventPayload
    ) -> None:
        await self.apply_many(connection, [(envelope, payload)])

    async def apply_many(
        self, connection: AsyncConnection, items: Sequence[tuple[Envelope, EventPayload]]
    ) -> None:
        """New expenses go in together (one ``executemany``); an amendment or a deletion
        first writes the new ones before it, so each row sees its events in order."""
        created: list[dict[str, Any]] = []
        for envelope, payload in items:
            match payload:
                case ExpenseCreated():
                    created.append(_created(envelope, payload))
                case ExpenseAmended():
                    await _insert(connection, created)
                    await _update(connection, envelope, _amended(amended_state(payload)))
                case ExpenseDeleted():
                    await _insert(connection, created)
                    await _update(
                        connection, envelope, {"status": "deleted", **_postings(payload.postings)}
                    )
        await _insert(connection, created)


_CREATED_COLUMNS = (
    "expense_id",
    "group_id",
    "description",
    "category",
    "amount_cents",
    "currency",
    "incurred_on",
    "created_by",
    "payers",
    "split",
    "shares",
    "postings",
    "is_adjustment",
    "status",
    "version",
    "created_at",
    "updated_at",
)
_INSERT = DriverStatement(upsert_many(expenses, _CREATED_COLUMNS, ("expense_id",)))


async def _insert(connection: AsyncConnection, created: list[dict[str, Any]]) -> None:
    """Write the new expenses gathered so far, and forget them."""
    if created:
        await DriverSql(connection).execute_many(_INSERT, created)
        created.clear()


def _postings(postings: Sequence[PostingData] | None) -> dict[str, Any]:
    """The postings column and the adjustment flag that follows from it."""
    postings = postings or []
    return {
        "postings": json_list(postings),
        "is_adjustment": any(posting.kind == "adjustment" for posting in postings),
    }


def _created(envelope: Envelope, payload: ExpenseCreated) -> dict[str, Any]:
    return {
        "expense_id": envelope.aggregate_id,
        "group_id": payload.group_id,
        "description": payload.description,
        "category": payload.category,
        "amount_cents": payload.amount_cents,
        "currency": payload.currency,
        # Optional in v1: without it, the expense counts on the day it was recorded.
        "incurred_on": payload.incurred_on or envelope.occurred_at.date(),
        "created_by": payload.created_by,
        "payers": json_list(payload.payers),
        "split": json_object(payload.split),
        "shares": json_list(payload.shares),
        **_postings(payload.postings),
        "status": "active",
        "version": envelope.aggregate_version,
        "created_at": envelope.occurred_at,
        "updated_at": envelope.occurred_at,
    }


def _amended(payload: ExpenseAmended) -> dict[str, Any]:
    """The columns an amendment determines (fields it does not mention keep their value)."""
    values: dict[str, Any] = {
        name: getattr(payload, name)
        for name in _PLAIN_FIELDS
        if determined(payload, name) and (name in _CLEARABLE or getattr(payload, name) is not None)
    }
    if determined(payload, "payers"):
        values["payers"] = json_list(payload.payers)
    if determined(payload, "split"):
        values["split"] = json_object(payload.split)
    if determined(payload, "shares"):
        values["shares"] = json_list(payload.shares)
    if determined(payload, "postings") and payload.postings is not None:
        values.update(_postings(payload.postings))
    return values


async def _update(connection: AsyncConnection, envelope: Envelope, values: dict[str, Any]) -> None:
    """Overwrite the expense's row; its ``expense.created`` was applied before (same stream)."""
    await connection.execute(
        update(expenses)
        .where(expenses.c.expense_id == envelope.aggregate_id)
        .values(**values, version=envelope.aggregate_version, updated_at=envelope.occurred_at)
    )

"""Expenses: the ``expenses`` connection and ``addExpense``, ``amendExpense``, ``deleteExpense``."""

from __future__ import annotations

import base64
import binascii
from datetime import date, datetime
from enum import Enum
from typing import Annotated, Any
from uuid import UUID

import strawberry
from sqlalchemy import Row

from aequatio.application.commands import AddExpense, AmendExpense, DeleteExpense
from aequatio.domain.errors import ErrorCode, InvalidInput
from aequatio.domain.sharing import Payer
from aequatio.domain.sharing import SplitMode as DomainSplitMode
from aequatio.domain.sharing import SplitRule as DomainRule
from aequatio.graphql import ids
from aequatio.graphql.common import MinorUnits, Node, Outcome, PeriodInput, run_command, uuid_of
from aequatio.graphql.context import Info
from aequatio.graphql.features.amounts import Share, shares
from aequatio.graphql.features.groups import Group, readable_group
from aequatio.graphql.features.users import User, load_user
from aequatio.graphql.limits import QueryLimits

SCOPE = "expenses:write"
LIMITS = QueryLimits()


@strawberry.enum
class SplitMode(Enum):
    EQUAL = "EQUAL"
    SHARES = "SHARES"
    EXACT = "EXACT"
    PERCENT = "PERCENT"


@strawberry.type(
    description="A per-member value of a split rule (weight, minor units or basis points)."
)
class Weight:
    value: MinorUnits
    user_id: strawberry.Private[UUID]

    @strawberry.field
    async def user(self, info: Info) -> User | None:
        return await load_user(info, self.user_id)


@strawberry.type(description="How an expense is split; the computed `shares` are on the expense.")
class SplitRule:
    mode: SplitMode
    weights: list[Weight] | None
    participant_ids: strawberry.Private[list[UUID] | None]

    @strawberry.field(description="EQUAL among these (null: the members on the expense's date).")
    async def participants(self, info: Info) -> list[User | None] | None:
        if self.participant_ids is None:
            return None
        return [await load_user(info, user_id) for user_id in self.participant_ids]

    @classmethod
    def of(cls, data: dict[str, Any] | None) -> SplitRule:
        data = data or {"mode": "EQUAL"}
        return cls(
            mode=SplitMode(data["mode"]),
            weights=(
                [
                    Weight(value=w["amount_cents"], user_id=UUID(w["user_id"]))
                    for w in data["weights"]
                ]
                if data.get("weights") is not None
                else None
            ),
            participant_ids=(
                [UUID(p) for p in data["participants"]]
                if data.get("participants") is not None
                else None
            ),
        )


@strawberry.type(description="Money a member spent for the group.")
class Expense(Node):
    description: str
    category: str | None
    amount_cents: MinorUnits
    currency: str
    incurred_on: date
    is_adjustment: bool = strawberry.field(
        description="Booked into a later month because its own month was already invoiced."
    )
    version: int = strawberry.field(description="Pass as `expectedVersion` to amend or delete.")
    created_at: datetime
    updated_at: datetime
    payers: list[Share]
    shares: list[Share] = strawberry.field(
        description="What each member owes (sums to the amount)."
    )
    split: SplitRule
    expense_id: strawberry.Private[UUID]
    group_id: strawberry.Private[UUID]
    created_by_id: strawberry.Private[UUID]

    @classmethod
    def of(cls, row: Row[Any]) -> Expense:
        return cls(
            id=strawberry.ID(ids.encode("Expense", row.expense_id)),
            description=row.description,
            category=row.category,
            amount_cents=row.amount_cents,
            currency=row.currency,
            incurred_on=row.incurred_on,
            is_adjustment=row.is_adjustment,
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
            payers=shares(row.payers),
            shares=shares(row.shares),
            split=SplitRule.of(row.split),
            expense_id=row.expense_id,
            group_id=row.group_id,
            created_by_id=row.created_by,
        )

    @strawberry.field
    async def created_by(self, info: Info) -> User | None:
        return await load_user(info, self.created_by_id)

    @strawberry.field
    async def group(self, info: Info) -> Group:
        return await readable_group(info, self.group_id)


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class ExpenseEdge:
    cursor: str
    node: Expense


@strawberry.type
class ExpenseConnection:
    edges: list[ExpenseEdge]
    page_info: PageInfo


def _cursor(row: Row[Any]) -> str:
    raw = f"{row.incurred_on.isoformat()}|{row.expense_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _after(cursor: str | None) -> tuple[date, UUID] | None:
    if cursor is None:
        return None
    try:
        day, _, expense_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return date.fromisoformat(day), UUID(expense_id)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput(
            ErrorCode.INVALID_ID, "not a cursor of this list", field="after"
        ) from None


def page_size(first: int) -> int:
    if not 1 <= first <= LIMITS.max_page_size:
        raise InvalidInput(
            ErrorCode.PAGE_SIZE_TOO_LARGE,
            f"first is between 1 and {LIMITS.max_page_size}",
            field="first",
        )
    return first


@strawberry.type
class ExpensesQuery:
    @strawberry.field(description="A group's expenses, newest first (by the date they count for).")
    async def expenses(
        self,
        info: Info,
        group_id: strawberry.ID,
        period: PeriodInput | None = None,
        first: int = LIMITS.default_page_size,
        after: str | None = None,
        consistent_with: list[strawberry.ID] | None = None,
    ) -> ExpenseConnection:
        await info.context.consistent_with(consistent_with, ["expenses"])
        group = uuid_of(group_id, "Group", field="groupId")
        limit = page_size(first)
        await info.context.require_member(group)
        rows = await info.context.store.expenses_page(
            group,
            start=period.start if period else None,
            end=period.end if period else None,
            after=_after(after),
            limit=limit + 1,
        )
        page = rows[:limit]
        return ExpenseConnection(
            edges=[ExpenseEdge(cursor=_cursor(row), node=Expense.of(row)) for row in page],
            page_info=PageInfo(
                has_next_page=len(rows) > limit,
                end_cursor=_cursor(page[-1]) if page else None,
            ),
        )


@strawberry.input
class ShareInput:
    user_id: strawberry.ID
    amount_cents: MinorUnits


@strawberry.input
class WeightInput:
    user_id: strawberry.ID
    value: MinorUnits


@strawberry.input(
    description=(
        "EQUAL takes `participants` (default: the members on the date); SHARES integer "
        "`weights` (default: members' weights); EXACT minor units and PERCENT basis points "
        "(summing to 10000) as `weights`."
    )
)
class SplitInput:
    mode: SplitMode
    participants: list[strawberry.ID] | None = None
    weights: list[WeightInput] | None = None


def _payers(items: list[ShareInput] | None) -> tuple[Payer, ...] | None:
    if items is None:
        return None
    return tuple(
        Payer(uuid_of(item.user_id, "User", field=f"payers.{i}.user_id"), item.amount_cents)
        for i, item in enumerate(items)
    )


def _rule(split: SplitInput | None) -> DomainRule | None:
    if split is None:
        return None
    return DomainRule(
        mode=DomainSplitMode(split.mode.value),
        participants=(
            tuple(
                uuid_of(p, "User", field=f"split.participants.{i}")
                for i, p in enumerate(split.participants)
            )
            if split.participants is not None
            else None
        ),
        weights=(
            tuple(
                (uuid_of(w.user_id, "User", field=f"split.weights.{i}.user_id"), w.value)
                for i, w in enumerate(split.weights)
            )
            if split.weights is not None
            else None
        ),
    )


@strawberry.input
class AddExpenseInput:
    group_id: strawberry.ID
    amount_cents: MinorUnits
    currency: str
    description: str
    incurred_on: date
    category: str | None = None
    payers: list[ShareInput] | None = strawberry.field(
        default=None, description="Who paid how much (default: the caller paid it all)."
    )
    split: SplitInput | None = strawberry.field(default=None, description="Default: EQUAL.")
    idempotency_key: str | None = None


@strawberry.input(description='Omitted fields keep their value; `category: ""` clears it.')
class AmendExpenseInput:
    expense_id: strawberry.ID
    expected_version: int
    amount_cents: MinorUnits | None = None
    currency: str | None = None
    description: str | None = None
    category: str | None = None
    incurred_on: date | None = None
    payers: list[ShareInput] | None = None
    split: SplitInput | None = None
    idempotency_key: str | None = None


@strawberry.input
class DeleteExpenseInput:
    expense_id: strawberry.ID
    expected_version: int
    idempotency_key: str | None = None


AddExpensePayload = Annotated[Outcome, strawberry.union("AddExpensePayload")]
AmendExpensePayload = Annotated[Outcome, strawberry.union("AmendExpensePayload")]
DeleteExpensePayload = Annotated[Outcome, strawberry.union("DeleteExpensePayload")]


@strawberry.type
class ExpensesMutation:
    @strawberry.mutation(
        description="Record an expense (booked as an adjustment if its month is closed)."
    )
    async def add_expense(self, info: Info, input: AddExpenseInput) -> AddExpensePayload:
        def build() -> AddExpense:
            rule = _rule(input.split)
            return AddExpense(
                group_id=uuid_of(input.group_id, "Group", field="group_id"),
                amount_cents=input.amount_cents,
                currency=input.currency,
                description=input.description,
                incurred_on=input.incurred_on,
                category=input.category,
                payers=_payers(input.payers),
                **({"split": rule} if rule is not None else {}),
                idempotency_key=input.idempotency_key,
            )

        return await run_command(info, SCOPE, build)

    @strawberry.mutation(description="Change an expense at `expectedVersion`.")
    async def amend_expense(self, info: Info, input: AmendExpenseInput) -> AmendExpensePayload:
        return await run_command(
            info,
            SCOPE,
            lambda: AmendExpense(
                expense_id=uuid_of(input.expense_id, "Expense", field="expense_id"),
                expected_version=input.expected_version,
                amount_cents=input.amount_cents,
                currency=input.currency,
                description=input.description,
                category=input.category,
                incurred_on=input.incurred_on,
                payers=_payers(input.payers),
                split=_rule(input.split),
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(description="Delete an expense at `expectedVersion`.")
    async def delete_expense(self, info: Info, input: DeleteExpenseInput) -> DeleteExpensePayload:
        return await run_command(
            info,
            SCOPE,
            lambda: DeleteExpense(
                expense_id=uuid_of(input.expense_id, "Expense", field="expense_id"),
                expected_version=input.expected_version,
                idempotency_key=input.idempotency_key,
            ),
        )

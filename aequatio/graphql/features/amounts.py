"""Money-carrying types several features show: shares, balances, transfers, adjustments."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

import strawberry

from aequatio.graphql import ids
from aequatio.graphql.common import MinorUnits
from aequatio.graphql.context import Info
from aequatio.graphql.features.users import User, load_user


@strawberry.type(description="An amount attributed to one member.")
class Share:
    amount_cents: MinorUnits
    user_id: strawberry.Private[UUID]

    @strawberry.field
    async def user(self, info: Info) -> User | None:
        return await load_user(info, self.user_id)


@strawberry.type(description="A member's position in one currency; `net = paid - owed`.")
class Balance:
    currency: str
    paid_cents: MinorUnits
    owed_cents: MinorUnits
    net_cents: MinorUnits
    user_id: strawberry.Private[UUID]

    @strawberry.field
    async def user(self, info: Info) -> User | None:
        return await load_user(info, self.user_id)


@strawberry.type(description="A settle-up payment: `from` pays `to`.")
class Transfer:
    currency: str
    amount_cents: MinorUnits
    from_user_id: strawberry.Private[UUID]
    to_user_id: strawberry.Private[UUID]

    @strawberry.field(name="from")
    async def from_(self, info: Info) -> User | None:
        return await load_user(info, self.from_user_id)

    @strawberry.field
    async def to(self, info: Info) -> User | None:
        return await load_user(info, self.to_user_id)


@strawberry.type(description="A posting that corrects a closed month (or books a late expense).")
class Adjustment:
    expense_id: strawberry.ID
    adjusts_month: date
    currency: str
    paid: list[Share]
    owed: list[Share]


def shares(items: list[dict[str, Any]] | None) -> list[Share]:
    return [Share(amount_cents=i["amount_cents"], user_id=UUID(i["user_id"])) for i in items or []]


def balances(items: list[dict[str, Any]] | None) -> list[Balance]:
    return [
        Balance(
            currency=i["currency"],
            paid_cents=i["paid_cents"],
            owed_cents=i["owed_cents"],
            net_cents=i["net_cents"],
            user_id=UUID(i["user_id"]),
        )
        for i in items or []
    ]


def transfers(items: list[dict[str, Any]] | None) -> list[Transfer]:
    return [
        Transfer(
            currency=i["currency"],
            amount_cents=i["amount_cents"],
            from_user_id=UUID(i["from_user_id"]),
            to_user_id=UUID(i["to_user_id"]),
        )
        for i in items or []
    ]


def adjustments(items: list[dict[str, Any]] | None) -> list[Adjustment]:
    return [
        Adjustment(
            expense_id=strawberry.ID(ids.encode("Expense", UUID(i["expense_id"]))),
            adjusts_month=date.fromisoformat(i["adjusts_month"]),
            currency=i["currency"],
            paid=shares(i["paid"]),
            owed=shares(i["owed"]),
        )
        for i in items or []
    ]

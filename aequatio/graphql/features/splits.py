"""Splits and balances: ``balances``, ``splits`` and ``requestSplit``."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any
from uuid import UUID

import strawberry
from sqlalchemy import Row

from aequatio.application.commands import ConversionInput as ConversionCommand
from aequatio.application.commands import RequestSplit
from aequatio.domain.calendar import Period as DomainPeriod
from aequatio.graphql import ids
from aequatio.graphql.common import (
    MinorUnits,
    Node,
    Outcome,
    Period,
    PeriodInput,
    run_command,
    uuid_of,
)
from aequatio.graphql.context import Info
from aequatio.graphql.features.amounts import (
    Adjustment,
    Balance,
    Transfer,
    adjustments,
    balances,
    transfers,
)
from aequatio.graphql.features.users import User, load_user

SCOPE = "splits:write"


@strawberry.enum
class SplitStatus(Enum):
    REQUESTED = "requested"
    COMPLETED = "completed"
    FAILED = "failed"


@strawberry.type
class ExchangeRate:
    currency: str
    rate: str = strawberry.field(
        description="Units of the target currency per unit, as decimal text."
    )


@strawberry.type(description="Balances converted into one currency with the rates given.")
class ConvertedBalances:
    currency: str
    rates: list[ExchangeRate]
    balances: list[Balance]


@strawberry.type(description="A period's split: who paid, who owes, and how to settle up.")
class Split(Node):
    period: Period
    status: SplitStatus
    requested_at: datetime
    completed_at: datetime | None
    issue_invoice: bool
    balances: list[Balance] = strawberry.field(description="Per member and currency.")
    transfers: list[Transfer] = strawberry.field(
        description="Settle-up (in the conversion currency when converted)."
    )
    converted: ConvertedBalances | None
    adjustments: list[Adjustment]
    failure_code: str | None
    failure_reason: str | None
    requested_by_id: strawberry.Private[UUID]
    group_id: strawberry.Private[UUID]

    @strawberry.field
    async def requested_by(self, info: Info) -> User | None:
        return await load_user(info, self.requested_by_id)

    @classmethod
    def of(cls, row: Row[Any]) -> Split:
        converted = row.converted
        return cls(
            id=strawberry.ID(ids.encode("Split", row.split_id)),
            period=Period(start=row.period_start, end=row.period_end),
            status=SplitStatus(row.status),
            requested_at=row.requested_at,
            completed_at=row.completed_at,
            issue_invoice=row.issue_invoice,
            balances=balances(row.per_user_amounts),
            transfers=transfers(row.transfers),
            converted=(
                ConvertedBalances(
                    currency=converted["currency"],
                    rates=[
                        ExchangeRate(currency=r["currency"], rate=r["rate"])
                        for r in converted["rates"]
                    ],
                    balances=balances(converted["per_user_amounts"]),
                )
                if converted
                else None
            ),
            adjustments=adjustments(row.adjustments),
            failure_code=row.failure_code,
            failure_reason=row.failure_reason,
            requested_by_id=row.requested_by,
            group_id=row.group_id,
        )


def checked_period(period: PeriodInput, *, field: str = "period") -> DomainPeriod:
    return DomainPeriod.of(period.start, period.end, field=field)


@strawberry.type
class SplitsQuery:
    @strawberry.field(description="Paid, owed and net per member and currency over a period.")
    async def balances(
        self,
        info: Info,
        group_id: strawberry.ID,
        period: PeriodInput,
        consistent_with: list[strawberry.ID] | None = None,
    ) -> list[Balance]:
        await info.context.consistent_with(consistent_with, ["balances"])
        group = uuid_of(group_id, "Group", field="groupId")
        checked = checked_period(period)
        await info.context.require_member(group)
        rows = await info.context.store.balances(group, checked.start, checked.end)
        return [
            Balance(
                currency=row.currency,
                paid_cents=MinorUnits(int(row.paid_cents)),
                owed_cents=MinorUnits(int(row.owed_cents)),
                net_cents=MinorUnits(int(row.net_cents)),
                user_id=row.user_id,
            )
            for row in rows
        ]

    @strawberry.field(description="The group's splits, newest request first.")
    async def splits(
        self,
        info: Info,
        group_id: strawberry.ID,
        period: PeriodInput | None = None,
        consistent_with: list[strawberry.ID] | None = None,
    ) -> list[Split]:
        await info.context.consistent_with(consistent_with, ["splits"])
        group = uuid_of(group_id, "Group", field="groupId")
        await info.context.require_member(group)
        rows = await info.context.store.splits_of(
            group, period.start if period else None, period.end if period else None
        )
        return [Split.of(row) for row in rows]


@strawberry.input
class RateInput:
    currency: str
    rate: str = strawberry.field(description='Decimal text, e.g. "0.92".')


@strawberry.input(description="Convert every currency into `currency` at settle-up.")
class ConversionInput:
    currency: str
    rates: list[RateInput]


@strawberry.input
class RequestSplitInput:
    group_id: strawberry.ID
    period: PeriodInput
    conversion: ConversionInput | None = None
    issue_invoice: bool = False
    idempotency_key: str | None = None


RequestSplitPayload = Annotated[Outcome, strawberry.union("RequestSplitPayload")]


@strawberry.type
class SplitsMutation:
    @strawberry.mutation(description="Ask for a period's split; it completes asynchronously.")
    async def request_split(self, info: Info, input: RequestSplitInput) -> RequestSplitPayload:
        return await run_command(
            info,
            SCOPE,
            lambda: RequestSplit(
                group_id=uuid_of(input.group_id, "Group", field="group_id"),
                period_start=input.period.start,
                period_end=input.period.end,
                conversion=(
                    ConversionCommand(
                        currency=input.conversion.currency,
                        rates=tuple((r.currency, r.rate) for r in input.conversion.rates),
                    )
                    if input.conversion is not None
                    else None
                ),
                issue_invoice=input.issue_invoice,
                idempotency_key=input.idempotency_key,
            ),
        )

"""Invoices: ``invoices``, ``createInvoice``, ``voidInvoice``, ``markInvoicePaid``."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any
from uuid import UUID

import strawberry
from sqlalchemy import Row

from aequatio.application.commands import CreateInvoice, MarkInvoicePaid, VoidInvoice
from aequatio.graphql import ids
from aequatio.graphql.common import (
    CurrencyAmount,
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

SCOPE = "invoices:write"


@strawberry.enum
class InvoiceStatus(Enum):
    ISSUED = "issued"
    PAID = "paid"
    VOIDED = "voided"


@strawberry.type(description="A completed split frozen for a period; it closes the period.")
class Invoice(Node):
    period: Period
    status: InvoiceStatus
    currency: str | None = strawberry.field(description="Set when the split was converted.")
    lines: list[Balance]
    total: list[CurrencyAmount]
    transfers: list[Transfer]
    adjustments: list[Adjustment]
    issued_at: datetime
    paid_at: datetime | None
    voided_at: datetime | None
    void_reason: str | None
    split_id: strawberry.ID | None
    issued_by_id: strawberry.Private[UUID | None]
    group_id: strawberry.Private[UUID]

    @strawberry.field
    async def issued_by(self, info: Info) -> User | None:
        return await load_user(info, self.issued_by_id) if self.issued_by_id else None

    @classmethod
    def of(cls, row: Row[Any]) -> Invoice:
        return cls(
            id=strawberry.ID(ids.encode("Invoice", row.invoice_id)),
            period=Period(start=row.period_start, end=row.period_end),
            status=InvoiceStatus(row.status),
            currency=row.currency,
            lines=balances(row.lines),
            total=[
                CurrencyAmount(currency=t["currency"], amount_cents=t["amount_cents"])
                for t in row.total
            ],
            transfers=transfers(row.transfers),
            adjustments=adjustments(row.adjustments),
            issued_at=row.issued_at,
            paid_at=row.paid_at,
            voided_at=row.voided_at,
            void_reason=row.void_reason,
            split_id=strawberry.ID(ids.encode("Split", row.split_id)) if row.split_id else None,
            issued_by_id=row.issued_by,
            group_id=row.group_id,
        )


@strawberry.type
class InvoicesQuery:
    @strawberry.field(description="The group's invoices, latest period first.")
    async def invoices(
        self,
        info: Info,
        group_id: strawberry.ID,
        consistent_with: list[strawberry.ID] | None = None,
    ) -> list[Invoice]:
        await info.context.consistent_with(consistent_with, ["invoices"])
        group = uuid_of(group_id, "Group", field="groupId")
        await info.context.require_member(group)
        return [Invoice.of(row) for row in await info.context.store.invoices_of(group)]


@strawberry.input
class CreateInvoiceInput:
    group_id: strawberry.ID
    period: PeriodInput
    idempotency_key: str | None = None


@strawberry.input
class VoidInvoiceInput:
    invoice_id: strawberry.ID
    reason: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class MarkInvoicePaidInput:
    invoice_id: strawberry.ID
    idempotency_key: str | None = None


CreateInvoicePayload = Annotated[Outcome, strawberry.union("CreateInvoicePayload")]
VoidInvoicePayload = Annotated[Outcome, strawberry.union("VoidInvoicePayload")]
MarkInvoicePaidPayload = Annotated[Outcome, strawberry.union("MarkInvoicePaidPayload")]


@strawberry.type
class InvoicesMutation:
    @strawberry.mutation(description="Issue the period's invoice from its completed split.")
    async def create_invoice(self, info: Info, input: CreateInvoiceInput) -> CreateInvoicePayload:
        return await run_command(
            info,
            SCOPE,
            lambda: CreateInvoice(
                group_id=uuid_of(input.group_id, "Group", field="group_id"),
                period_start=input.period.start,
                period_end=input.period.end,
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(description="Withdraw an issued invoice; its period opens again.")
    async def void_invoice(self, info: Info, input: VoidInvoiceInput) -> VoidInvoicePayload:
        return await run_command(
            info,
            SCOPE,
            lambda: VoidInvoice(
                invoice_id=uuid_of(input.invoice_id, "Invoice", field="invoice_id"),
                reason=input.reason,
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(description="Record that an issued invoice was settled.")
    async def mark_invoice_paid(
        self, info: Info, input: MarkInvoicePaidInput
    ) -> MarkInvoicePaidPayload:
        return await run_command(
            info,
            SCOPE,
            lambda: MarkInvoicePaid(
                invoice_id=uuid_of(input.invoice_id, "Invoice", field="invoice_id"),
                idempotency_key=input.idempotency_key,
            ),
        )

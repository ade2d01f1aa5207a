"""Invoices."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from aequatio.application.ports import InvoiceRepository
from aequatio.domain.calendar import Period
from aequatio.domain.invoice import Invoice, InvoiceStatus
from aequatio.domain.serialization import (
    adjustments_data,
    adjustments_from,
    balances_data,
    balances_from,
    totals_data,
    transfers_data,
    transfers_from,
)
from aequatio.events.common import CurrencyTotal
from aequatio.persistence import json_columns
from aequatio.persistence.concurrency import require_updated
from aequatio.persistence.tables import invoices


def _invoice(row: Any) -> Invoice:
    return Invoice(
        id=row.id,
        version=row.version,
        stored_version=row.version,
        group_id=row.group_id,
        split_id=row.split_id,
        period=Period(row.period_start, row.period_end),
        currency=row.currency,
        lines=balances_from(json_columns.balances(row.lines)),
        totals={
            total.currency: total.amount_cents
            for total in (CurrencyTotal.model_validate(item) for item in row.totals)
        },
        transfers=transfers_from(json_columns.transfers(row.transfers)),
        adjustments=adjustments_from(json_columns.adjustments(row.adjustments)),
        issued_by=row.issued_by,
        issued_at=row.issued_at,
        status=InvoiceStatus(row.status),
        status_changed_at=row.status_changed_at,
        void_reason=row.void_reason,
    )


class SqlInvoiceRepository(InvoiceRepository):
    def __init__(self, connection: AsyncConnection) -> None:
        super().__init__()
        self._connection = connection

    async def _one(self, query: Any) -> Invoice | None:
        row = (await self._connection.execute(query)).first()
        return self._track(_invoice(row)) if row else None

    async def get(self, invoice_id: UUID) -> Invoice | None:
        return await self._one(select(invoices).where(invoices.c.id == invoice_id))

    async def active_for(self, group_id: UUID, period: Period) -> Invoice | None:
        return await self._one(
            select(invoices).where(
                invoices.c.group_id == group_id,
                invoices.c.period_start == period.start,
                invoices.c.period_end == period.end,
                invoices.c.status != InvoiceStatus.VOIDED.value,
            )
        )

    async def _save(self, invoice: Invoice) -> None:
        values = {
            "group_id": invoice.group_id,
            "split_id": invoice.split_id,
            "period_start": invoice.period.start,
            "period_end": invoice.period.end,
            "currency": invoice.currency,
            "lines": json_columns.dump(balances_data(invoice.lines)),
            "totals": json_columns.dump(totals_data(invoice.totals)),
            "transfers": json_columns.dump(transfers_data(invoice.transfers)),
            "adjustments": json_columns.dump(adjustments_data(invoice.adjustments)),
            "status": invoice.status.value,
            "issued_by": invoice.issued_by,
            "issued_at": invoice.issued_at,
            "status_changed_at": invoice.status_changed_at,
            "void_reason": invoice.void_reason,
            "version": invoice.version,
        }
        if invoice.is_new:
            await self._connection.execute(insert(invoices).values(id=invoice.id, **values))
            return
        result = await self._connection.execute(
            update(invoices)
            .where(invoices.c.id == invoice.id, invoices.c.version == invoice.stored_version)
            .values(**values)
        )
        require_updated(result, invoice)

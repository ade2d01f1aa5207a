"""``read.invoices``: issued invoices with their lines, and whether they were paid or voided."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from aequatio.events.base import EventPayload
from aequatio.events.billing import InvoiceCreated, InvoicePaid, InvoiceVoided
from aequatio.events.envelope import Envelope
from aequatio.projections.base import Projection
from aequatio.projections.common import json_list, upsert
from aequatio.projections.tables import invoices


class Invoices(Projection):
    name = "invoices"
    patterns = ("billing.invoice.*",)
    tables = (invoices,)

    async def apply(
        self, connection: AsyncConnection, envelope: Envelope, payload: EventPayload
    ) -> None:
        match payload:
            case InvoiceCreated():
                await connection.execute(
                    upsert(invoices, _created(envelope, payload), ("invoice_id",))
                )
            case InvoicePaid():
                await _update(
                    connection, envelope, {"status": "paid", "paid_at": envelope.occurred_at}
                )
            case InvoiceVoided():
                await _update(
                    connection,
                    envelope,
                    {
                        "status": "voided",
                        "voided_at": envelope.occurred_at,
                        "void_reason": payload.reason,
                    },
                )


def _created(envelope: Envelope, payload: InvoiceCreated) -> dict[str, Any]:
    return {
        "invoice_id": envelope.aggregate_id,
        "group_id": payload.group_id,
        "split_id": payload.split_id,
        "period_start": payload.period_start,
        "period_end": payload.period_end,
        "currency": payload.currency,
        "lines": json_list(payload.lines),
        "total": json_list(payload.total),
        "transfers": json_list(payload.transfers),
        "adjustments": json_list(payload.adjustments),
        "status": "issued",
        "issued_by": payload.issued_by,
        "issued_at": envelope.occurred_at,
        "paid_at": None,
        "voided_at": None,
        "void_reason": None,
    }


async def _update(connection: AsyncConnection, envelope: Envelope, values: dict[str, Any]) -> None:
    """The invoice's row exists: ``invoice.created`` is the first event of the same stream."""
    await connection.execute(
        update(invoices).where(invoices.c.invoice_id == envelope.aggregate_id).values(**values)
    )

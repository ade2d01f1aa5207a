"""Events of the billing context: invoices issued from completed splits."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from aequatio.events.base import EventPayload
from aequatio.events.common import AdjustmentData, CurrencyTotal, MemberBalance, TransferData


class InvoiceCreated(EventPayload):
    """Seed event: ``{invoice_id, group_id, period_start, period_end, lines, total}``.

    ``lines`` are per member and currency; ``total`` is the period's spending per currency
    (one entry when the split was converted, and ``currency`` then names it).
    """

    event_type = "invoice.created"
    event_version = 1
    context = "billing"

    invoice_id: UUID
    group_id: UUID
    period_start: date
    period_end: date
    lines: list[MemberBalance]
    total: list[CurrencyTotal]
    split_id: UUID | None = None
    currency: str | None = None
    transfers: list[TransferData] | None = None
    adjustments: list[AdjustmentData] | None = None
    issued_by: UUID | None = None


class InvoicePaid(EventPayload):
    event_type = "invoice.paid"
    event_version = 1
    context = "billing"

    invoice_id: UUID
    group_id: UUID
    paid_by: UUID


class InvoiceVoided(EventPayload):
    """The invoice no longer stands; its period is open again."""

    event_type = "invoice.voided"
    event_version = 1
    context = "billing"

    invoice_id: UUID
    group_id: UUID
    voided_by: UUID
    reason: str | None = None

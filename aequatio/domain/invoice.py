"""An invoice: a completed split frozen into lines, totals and transfers; it closes its period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from aequatio.domain.aggregate import Aggregate
from aequatio.domain.calendar import Period, PeriodCalendar
from aequatio.domain.errors import Conflict, ErrorCode
from aequatio.domain.group import Group
from aequatio.domain.serialization import (
    adjustments_data,
    balances_data,
    totals_data,
    transfers_data,
)
from aequatio.domain.split import Split, SplitStatus
from aequatio.domain.splitting import Adjustment, Balance, CurrencyTransfer
from aequatio.domain.text import optional_text
from aequatio.events.billing import InvoiceCreated, InvoicePaid, InvoiceVoided

MAX_REASON_LENGTH = 500


class InvoiceStatus(StrEnum):
    ISSUED = "issued"
    PAID = "paid"
    VOIDED = "voided"


@dataclass(kw_only=True)
class Invoice(Aggregate):
    aggregate_type: ClassVar[str] = "invoice"

    group_id: UUID
    split_id: UUID
    period: Period
    currency: str | None
    lines: tuple[Balance, ...]
    totals: dict[str, int]
    transfers: tuple[CurrencyTransfer, ...]
    adjustments: tuple[Adjustment, ...]
    issued_by: UUID
    issued_at: datetime
    status: InvoiceStatus = InvoiceStatus.ISSUED
    status_changed_at: datetime | None = None
    void_reason: str | None = None

    @property
    def closes_period(self) -> bool:
        return self.status is not InvoiceStatus.VOIDED

    @classmethod
    def issue(
        cls,
        *,
        invoice_id: UUID,
        split: Split,
        group: Group,
        actor_id: UUID,
        calendar: PeriodCalendar,
        now: datetime,
    ) -> Invoice:
        """Issue from a completed split that has seen every change booked into its period.

        ``actor_id`` is who issues it (the caller, or the split's requester when the invoice
        workflow issues it); rights are the caller's to check.
        """
        outcome = split.outcome
        if split.status is not SplitStatus.COMPLETED or outcome is None:
            raise Conflict(
                ErrorCode.SPLIT_NOT_COMPLETED,
                "the period's split has not completed",
                field="period",
            )
        months = split.period.months()
        if any(calendar.is_closed(month) for month in months):
            raise Conflict(
                ErrorCode.PERIOD_CLOSED, "part of this period is already invoiced", field="period"
            )
        if dict(outcome.revisions) != calendar.revisions_of(months):
            raise Conflict(
                ErrorCode.SPLIT_STALE,
                "expenses changed since the split; request a new split",
                field="period",
            )
        invoice = cls(
            id=invoice_id,
            group_id=group.id,
            split_id=split.id,
            period=split.period,
            currency=split.conversion.currency if split.conversion else None,
            lines=outcome.converted if outcome.converted is not None else outcome.balances,
            totals=outcome.totals(),
            transfers=outcome.transfers,
            adjustments=outcome.adjustments,
            issued_by=actor_id,
            issued_at=now,
        )
        invoice._record(
            InvoiceCreated(
                invoice_id=invoice.id,
                group_id=group.id,
                period_start=invoice.period.start,
                period_end=invoice.period.end,
                lines=balances_data(invoice.lines),
                total=totals_data(invoice.totals),
                split_id=split.id,
                currency=invoice.currency,
                transfers=transfers_data(invoice.transfers),
                adjustments=adjustments_data(invoice.adjustments),
                issued_by=actor_id,
            )
        )
        return invoice

    def _require_issued(self) -> None:
        if self.status is not InvoiceStatus.ISSUED:
            raise Conflict(ErrorCode.INVOICE_NOT_ISSUED, f"the invoice is {self.status}")

    def mark_paid(self, *, group: Group, actor_id: UUID, now: datetime) -> None:
        group.require_manager(actor_id)
        self._require_issued()
        self.status, self.status_changed_at = InvoiceStatus.PAID, now
        self._record(InvoicePaid(invoice_id=self.id, group_id=self.group_id, paid_by=actor_id))

    def void(self, *, group: Group, actor_id: UUID, reason: str | None, now: datetime) -> None:
        """Withdraw the invoice; its period opens again for changes and a new split."""
        group.require_manager(actor_id)
        self._require_issued()
        self.void_reason = optional_text(reason, field="reason", max_length=MAX_REASON_LENGTH)
        self.status, self.status_changed_at = InvoiceStatus.VOIDED, now
        self._record(
            InvoiceVoided(
                invoice_id=self.id,
                group_id=self.group_id,
                voided_by=actor_id,
                reason=self.void_reason,
            )
        )

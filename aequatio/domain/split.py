"""A split of one period: requested by a member, completed (or failed) by the split saga."""

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
    conversion_data,
    revisions_data,
    transfers_data,
)
from aequatio.domain.splitting import Conversion, SplitOutcome
from aequatio.events.splitting import (
    ConvertedBalances,
    SplitCompleted,
    SplitFailed,
    SplitInvoiceRequested,
    SplitRequested,
)


class SplitStatus(StrEnum):
    REQUESTED = "requested"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(kw_only=True)
class Split(Aggregate):
    aggregate_type: ClassVar[str] = "split"

    group_id: UUID
    period: Period
    requested_by: UUID
    requested_at: datetime
    conversion: Conversion | None = None
    issue_invoice: bool = False
    status: SplitStatus = SplitStatus.REQUESTED
    outcome: SplitOutcome | None = None
    completed_at: datetime | None = None
    failure_code: str | None = None
    failure_reason: str | None = None

    @classmethod
    def request(
        cls,
        *,
        split_id: UUID,
        group: Group,
        actor_id: UUID,
        period: Period,
        conversion: Conversion | None,
        issue_invoice: bool,
        now: datetime,
    ) -> Split:
        group.require_active_member(actor_id)
        split = cls(
            id=split_id,
            group_id=group.id,
            period=period,
            requested_by=actor_id,
            requested_at=now,
            conversion=conversion,
            issue_invoice=issue_invoice,
        )
        split._record_request()
        return split

    @classmethod
    def again(cls, previous: Split, *, split_id: UUID, now: datetime) -> Split:
        """A fresh request for ``previous``'s period on its requester's behalf (the invoice
        workflow's continuation when expenses changed after a split): no rights are checked."""
        split = cls(
            id=split_id,
            group_id=previous.group_id,
            period=previous.period,
            requested_by=previous.requested_by,
            requested_at=now,
            conversion=previous.conversion,
            issue_invoice=True,
        )
        split._record_request()
        return split

    def _record_request(self) -> None:
        self._record(
            SplitRequested(
                group_id=self.group_id,
                period_start=self.period.start,
                period_end=self.period.end,
                requested_by=self.requested_by,
                split_id=self.id,
                conversion=conversion_data(self.conversion) if self.conversion else None,
                issue_invoice=self.issue_invoice,
            )
        )

    def request_invoice(self, *, actor_id: UUID) -> bool:
        """Issue an invoice when this pending split completes; False if already asked."""
        self._require_pending()
        if self.issue_invoice:
            return False
        self.issue_invoice = True
        self._record(
            SplitInvoiceRequested(
                split_id=self.id,
                group_id=self.group_id,
                period_start=self.period.start,
                period_end=self.period.end,
                requested_by=actor_id,
            )
        )
        return True

    def is_current(self, calendar: PeriodCalendar) -> bool:
        """Completed, and nothing booked into its months since (no month of it closed)."""
        months = self.period.months()
        return (
            self.status is SplitStatus.COMPLETED
            and self.outcome is not None
            and dict(self.outcome.revisions) == calendar.revisions_of(months)
            and not any(calendar.is_closed(month) for month in months)
        )

    def _require_pending(self) -> None:
        if self.status is not SplitStatus.REQUESTED:
            raise Conflict(ErrorCode.SPLIT_NOT_PENDING, f"the split is already {self.status}")

    def complete(self, outcome: SplitOutcome, *, now: datetime) -> None:
        self._require_pending()
        self.status, self.outcome, self.completed_at = SplitStatus.COMPLETED, outcome, now
        converted = None
        if outcome.converted is not None and self.conversion is not None:
            converted = ConvertedBalances(
                currency=self.conversion.currency,
                rates=conversion_data(self.conversion).rates,
                per_user_amounts=balances_data(outcome.converted),
            )
        self._record(
            SplitCompleted(
                group_id=self.group_id,
                period_start=self.period.start,
                period_end=self.period.end,
                per_user_amounts=balances_data(outcome.balances),
                split_id=self.id,
                transfers=transfers_data(outcome.transfers),
                converted=converted,
                adjustments=adjustments_data(outcome.adjustments),
                period_revisions=revisions_data(outcome.revisions),
                issue_invoice=self.issue_invoice,
            )
        )

    def fail(self, *, code: str, reason: str, now: datetime) -> None:
        """End in a visible failed state; a new request for the period may follow."""
        self._require_pending()
        self.status, self.completed_at = SplitStatus.FAILED, now
        self.failure_code, self.failure_reason = code, reason
        self._record(
            SplitFailed(
                split_id=self.id,
                group_id=self.group_id,
                period_start=self.period.start,
                period_end=self.period.end,
                reason_code=code,
                reason=reason,
            )
        )

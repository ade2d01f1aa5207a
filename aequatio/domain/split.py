"""A split of one period: requested by a member, completed (or failed) by the split saga."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from aequatio.domain.aggregate import Aggregate
from aequatio.domain.calendar import Period
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
        split._record(
            SplitRequested(
                group_id=group.id,
                period_start=period.start,
                period_end=period.end,
                requested_by=actor_id,
                split_id=split_id,
                conversion=conversion_data(conversion) if conversion else None,
                issue_invoice=issue_invoice,
            )
        )
        return split

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

"""Events of the splitting context: a period's split is requested, then completes or fails."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from aequatio.events.base import EventPayload, Fragment
from aequatio.events.common import AdjustmentData, ExchangeRate, MemberBalance, TransferData


class ConversionData(Fragment):
    """Convert every currency's balances into ``currency`` at settle-up with these rates."""

    currency: str
    rates: list[ExchangeRate]


class MonthRevision(Fragment):
    month: date
    revision: int


class ConvertedBalances(Fragment):
    currency: str
    rates: list[ExchangeRate]
    per_user_amounts: list[MemberBalance]


class SplitRequested(EventPayload):
    """Seed event: ``{group_id, period_start, period_end, requested_by}``."""

    event_type = "split.requested"
    event_version = 1
    context = "splitting"

    group_id: UUID
    period_start: date
    period_end: date
    requested_by: UUID
    split_id: UUID | None = None
    conversion: ConversionData | None = None
    issue_invoice: bool = False


class SplitCompleted(EventPayload):
    """Seed event: ``{group_id, period_start, period_end, per_user_amounts[]}``.

    ``per_user_amounts`` are per member and currency; ``transfers`` settle the period (in the
    conversion currency when one was asked for, else per currency).
    """

    event_type = "split.completed"
    event_version = 1
    context = "splitting"

    group_id: UUID
    period_start: date
    period_end: date
    per_user_amounts: list[MemberBalance]
    split_id: UUID | None = None
    transfers: list[TransferData] | None = None
    converted: ConvertedBalances | None = None
    adjustments: list[AdjustmentData] | None = None
    period_revisions: list[MonthRevision] | None = None
    issue_invoice: bool = False


class SplitInvoiceRequested(EventPayload):
    """An invoice was asked for while the split was being computed: issue it on completion."""

    event_type = "split.invoice_requested"
    event_version = 1
    context = "splitting"

    split_id: UUID
    group_id: UUID
    period_start: date
    period_end: date
    requested_by: UUID


class SplitFailed(EventPayload):
    """The split could not be computed; the request is released so it can be asked again."""

    event_type = "split.failed"
    event_version = 1
    context = "splitting"

    split_id: UUID
    group_id: UUID
    period_start: date
    period_end: date
    reason_code: str
    reason: str

"""Fragments shared by several payloads. Amounts are integer minor units of ``currency``."""

from __future__ import annotations

from datetime import date
from typing import Literal
from uuid import UUID

from pydantic import Field

from aequatio.events.base import Fragment

SplitModeName = Literal["EQUAL", "SHARES", "EXACT", "PERCENT"]
RoleName = Literal["owner", "admin", "member"]


class MemberAmount(Fragment):
    """An amount attributed to one member."""

    user_id: UUID
    amount_cents: int


class SplitRuleData(Fragment):
    """How an expense is split.

    ``EQUAL`` uses ``participants``; ``SHARES``, ``EXACT`` and ``PERCENT`` use ``weights``
    (integer weights, minor units, basis points respectively).
    """

    mode: SplitModeName
    participants: list[UUID] | None = None
    weights: list[MemberAmount] | None = None


class PostingData(Fragment):
    """What an expense contributes to one month's ledger.

    ``kind`` is ``adjustment`` when the posting corrects a month closed by an invoice (or
    books a late expense for one); ``adjusts_month`` then names that month.
    """

    month: date = Field(description="First day of the month the posting counts in.")
    currency: str
    paid: list[MemberAmount]
    owed: list[MemberAmount]
    kind: Literal["expense", "adjustment"] = "expense"
    adjusts_month: date | None = None


class FieldChange(Fragment):
    """The before and after of one amended field (JSON values)."""

    before: object = None
    after: object = None


class MemberBalance(Fragment):
    """One member's position in one currency for a period; ``net = paid - owed``."""

    user_id: UUID
    currency: str
    paid_cents: int
    owed_cents: int
    net_cents: int


class TransferData(Fragment):
    """A settle-up payment: ``from_user_id`` pays ``to_user_id``."""

    from_user_id: UUID
    to_user_id: UUID
    currency: str
    amount_cents: int


class CurrencyTotal(Fragment):
    currency: str
    amount_cents: int


class ExchangeRate(Fragment):
    """Units of the target currency for one unit of ``currency``, as a decimal string."""

    currency: str
    rate: str


class AdjustmentData(Fragment):
    """A posting of this period that corrects an earlier, closed month."""

    expense_id: UUID
    adjusts_month: date
    currency: str
    paid: list[MemberAmount]
    owed: list[MemberAmount]

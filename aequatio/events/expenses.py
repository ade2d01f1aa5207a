"""Events of the expenses context.

The seed fields come first; everything after them is optional in v1 (the contract says so) but
always written by aequatio. Computed shares and postings are stored in the event, so a later
rule change never rewrites history.
"""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from aequatio.events.base import EventPayload
from aequatio.events.common import FieldChange, MemberAmount, PostingData, SplitRuleData


class ExpenseCreated(EventPayload):
    """Seed event: ``{expense_id, group_id, amount_cents, currency, created_by, description}``."""

    event_type = "expense.created"
    event_version = 1
    context = "expenses"

    expense_id: UUID
    group_id: UUID
    amount_cents: int
    currency: str
    created_by: UUID
    description: str
    category: str | None = None
    incurred_on: date | None = None
    payers: list[MemberAmount] | None = None
    split: SplitRuleData | None = None
    shares: list[MemberAmount] | None = None
    postings: list[PostingData] | None = None


class ExpenseAmended(EventPayload):
    """Seed event: ``{expense_id, changes, amended_by, amended_at}``.

    ``changes`` maps each changed field to its before/after; the optional fields after it give
    the full resulting state so consumers never need to fold amendments themselves.
    """

    event_type = "expense.amended"
    event_version = 1
    context = "expenses"

    expense_id: UUID
    changes: dict[str, FieldChange]
    amended_by: UUID
    amended_at: datetime
    group_id: UUID | None = None
    amount_cents: int | None = None
    currency: str | None = None
    description: str | None = None
    category: str | None = None
    incurred_on: date | None = None
    payers: list[MemberAmount] | None = None
    split: SplitRuleData | None = None
    shares: list[MemberAmount] | None = None
    postings: list[PostingData] | None = None


class ExpenseDeleted(EventPayload):
    """The expense no longer counts; ``postings`` are what remains booked (closed months and
    their reversals)."""

    event_type = "expense.deleted"
    event_version = 1
    context = "expenses"

    expense_id: UUID
    group_id: UUID
    deleted_by: UUID
    postings: list[PostingData]

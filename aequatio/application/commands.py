"""Commands: one per mutation, plain frozen data. Handlers in ``handlers/`` carry them out.

Each may carry an ``idempotency_key``: a retry with the same key (by the same principal)
returns the first result and writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from uuid import UUID

from aequatio.domain.sharing import Payer, SplitMode, SplitRule


@dataclass(frozen=True, kw_only=True)
class Command:
    idempotency_key: str | None = None


@dataclass(frozen=True, kw_only=True)
class RegisterUser(Command):
    name: str
    email: str


@dataclass(frozen=True, kw_only=True)
class CreateGroup(Command):
    name: str
    currency: str
    #: The owner's membership starts here (default: today), so past expenses can be recorded.
    started_on: date | None = None


@dataclass(frozen=True, kw_only=True)
class AddMember(Command):
    group_id: UUID
    user_id: UUID
    role: str = "member"
    weight: int = 1
    joined_on: date | None = None


@dataclass(frozen=True, kw_only=True)
class RemoveMember(Command):
    group_id: UUID
    user_id: UUID
    left_on: date | None = None


@dataclass(frozen=True, kw_only=True)
class AddExpense(Command):
    group_id: UUID
    amount_cents: int
    currency: str
    description: str
    incurred_on: date
    category: str | None = None
    #: ``None``: the actor paid it all.
    payers: tuple[Payer, ...] | None = None
    split: SplitRule = field(default_factory=lambda: SplitRule(SplitMode.EQUAL))


@dataclass(frozen=True, kw_only=True)
class AmendExpense(Command):
    """Fields left ``None`` keep their value; ``category=""`` clears the category."""

    expense_id: UUID
    expected_version: int
    amount_cents: int | None = None
    currency: str | None = None
    description: str | None = None
    category: str | None = None
    incurred_on: date | None = None
    payers: tuple[Payer, ...] | None = None
    split: SplitRule | None = None


@dataclass(frozen=True, kw_only=True)
class DeleteExpense(Command):
    expense_id: UUID
    expected_version: int


@dataclass(frozen=True, kw_only=True)
class ConversionInput:
    """Convert balances into ``currency`` at settle-up; ``rates`` maps codes to decimal text."""

    currency: str
    rates: tuple[tuple[str, str], ...]


@dataclass(frozen=True, kw_only=True)
class RequestSplit(Command):
    group_id: UUID
    period_start: date
    period_end: date
    conversion: ConversionInput | None = None
    issue_invoice: bool = False


@dataclass(frozen=True, kw_only=True)
class CompleteSplit(Command):
    """Issued by the split saga only."""

    split_id: UUID


@dataclass(frozen=True, kw_only=True)
class FailSplit(Command):
    """Issued by the invoice workflow when a split did not complete in time."""

    split_id: UUID
    reason_code: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class IssueInvoice(Command):
    """Issued by the invoice workflow when a split asked to be invoiced has completed."""

    split_id: UUID


@dataclass(frozen=True, kw_only=True)
class CreateInvoice(Command):
    group_id: UUID
    period_start: date
    period_end: date


@dataclass(frozen=True, kw_only=True)
class VoidInvoice(Command):
    invoice_id: UUID
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class MarkInvoicePaid(Command):
    invoice_id: UUID

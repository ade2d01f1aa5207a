"""An expense: who paid, who it was for, how it splits, and where it is booked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, ClassVar
from uuid import UUID

from aequatio.domain.aggregate import Aggregate
from aequatio.domain.calendar import Month, PeriodCalendar, require_date
from aequatio.domain.errors import Conflict, ErrorCode, InvalidInput
from aequatio.domain.group import Group
from aequatio.domain.ledger import Contribution, Posting, months_touched, rebook
from aequatio.domain.money import currency_of, require_amount
from aequatio.domain.serialization import (
    amounts_data,
    payers_data,
    postings_data,
    rule_data,
)
from aequatio.domain.sharing import Payer, SplitRule, compute_shares, resolve_payers
from aequatio.domain.text import optional_text, require_text
from aequatio.events.common import FieldChange
from aequatio.events.expenses import ExpenseAmended, ExpenseCreated, ExpenseDeleted

MAX_DESCRIPTION_LENGTH = 500
MAX_CATEGORY_LENGTH = 64


class ExpenseStatus(StrEnum):
    ACTIVE = "active"
    DELETED = "deleted"


@dataclass(kw_only=True)
class Expense(Aggregate):
    aggregate_type: ClassVar[str] = "expense"

    group_id: UUID
    created_by: UUID
    amount: int
    currency: str
    description: str
    category: str | None
    incurred_on: date
    payers: tuple[Payer, ...]
    rule: SplitRule
    shares: dict[UUID, int]
    created_at: datetime
    amended_at: datetime | None = None
    status: ExpenseStatus = ExpenseStatus.ACTIVE
    postings: list[Posting] = field(default_factory=list)

    @classmethod
    def add(
        cls,
        *,
        expense_id: UUID,
        group: Group,
        actor_id: UUID,
        amount: int,
        currency: str,
        description: str,
        category: str | None,
        incurred_on: date,
        payers: Sequence[Payer] | None,
        rule: SplitRule,
        calendar: PeriodCalendar,
        now: datetime,
    ) -> Expense:
        """Record an expense; a date in a closed month books it as an adjustment."""
        group.require_active_member(actor_id)
        require_amount(amount)
        code = currency_of(currency).code
        day = require_date(incurred_on, field="incurred_on")
        expense = cls(
            id=expense_id,
            group_id=group.id,
            created_by=actor_id,
            amount=amount,
            currency=code,
            description=require_text(
                description, field="description", max_length=MAX_DESCRIPTION_LENGTH
            ),
            category=optional_text(category, field="category", max_length=MAX_CATEGORY_LENGTH),
            incurred_on=day,
            payers=resolve_payers(payers, amount, group, day, default=actor_id),
            rule=rule,
            shares=compute_shares(rule, amount, group, day, seed=str(expense_id)),
            created_at=now,
        )
        expense.postings = rebook([], expense.contribution, Month.of(day), calendar)
        expense._record(
            ExpenseCreated(
                expense_id=expense.id,
                group_id=group.id,
                amount_cents=amount,
                currency=code,
                created_by=actor_id,
                description=expense.description,
                category=expense.category,
                incurred_on=day,
                payers=payers_data(expense.payers),
                split=rule_data(rule),
                shares=amounts_data(expense.shares),
                postings=postings_data(expense.postings),
            )
        )
        return expense

    @property
    def contribution(self) -> Contribution | None:
        if self.status is ExpenseStatus.DELETED:
            return None
        paid: dict[UUID, int] = {}
        for payer in self.payers:
            paid[payer.user_id] = paid.get(payer.user_id, 0) + payer.amount
        return Contribution(currency=self.currency, paid=paid, owed=dict(self.shares))

    def _require_changeable(self, group: Group, actor_id: UUID, expected_version: int) -> None:
        group.require_active_member(actor_id)
        if self.status is ExpenseStatus.DELETED:
            raise Conflict(ErrorCode.EXPENSE_DELETED, "this expense was deleted")
        if expected_version != self.version:
            raise Conflict(
                ErrorCode.VERSION_CONFLICT,
                f"the expense is at version {self.version}, not {expected_version}",
                field="expected_version",
            )

    def amend(
        self,
        *,
        group: Group,
        actor_id: UUID,
        expected_version: int,
        calendar: PeriodCalendar,
        now: datetime,
        amount: int | None = None,
        currency: str | None = None,
        description: str | None = None,
        category: str | None = None,
        incurred_on: date | None = None,
        payers: Sequence[Payer] | None = None,
        rule: SplitRule | None = None,
    ) -> set[Month]:
        """Change some fields; returns the months whose ledger moved.

        Omitted fields keep their value (``category=""`` clears it). When the amount changes,
        a single payer pays the new amount; several payers or EXACT amounts must be restated.
        """
        self._require_changeable(group, actor_id, expected_version)
        new_amount = require_amount(amount) if amount is not None else self.amount
        new_currency = currency_of(currency).code if currency is not None else self.currency
        day = require_date(incurred_on, field="incurred_on") if incurred_on else self.incurred_on
        new_rule = rule if rule is not None else self.rule
        if payers is None:
            single = len(self.payers) == 1
            payers = [Payer(self.payers[0].user_id, new_amount)] if single else self.payers
        new_payers = resolve_payers(payers, new_amount, group, day, default=actor_id)
        new_shares = compute_shares(new_rule, new_amount, group, day, seed=str(self.id))
        new_description = (
            require_text(description, field="description", max_length=MAX_DESCRIPTION_LENGTH)
            if description is not None
            else self.description
        )
        new_category = (
            optional_text(category, field="category", max_length=MAX_CATEGORY_LENGTH)
            if category is not None
            else self.category
        )
        before = self._snapshot()
        self.amount, self.currency, self.incurred_on = new_amount, new_currency, day
        self.payers, self.rule, self.shares = new_payers, new_rule, new_shares
        self.description, self.category = new_description, new_category
        after = self._snapshot()
        changes = {
            name: FieldChange(before=before[name], after=after[name])
            for name in after
            if before[name] != after[name]
        }
        if not changes:
            raise InvalidInput(ErrorCode.NOTHING_TO_CHANGE, "the amendment changes nothing")
        old_postings = self.postings
        self.postings = rebook(old_postings, self.contribution, Month.of(day), calendar)
        self.amended_at = now
        self._record(
            ExpenseAmended(
                expense_id=self.id,
                changes=changes,
                amended_by=actor_id,
                amended_at=now,
                group_id=self.group_id,
                amount_cents=self.amount,
                currency=self.currency,
                description=self.description,
                category=self.category,
                incurred_on=self.incurred_on,
                payers=payers_data(self.payers),
                split=rule_data(self.rule),
                shares=amounts_data(self.shares),
                postings=postings_data(self.postings),
            )
        )
        return months_touched(old_postings, self.postings)

    def delete(
        self, *, group: Group, actor_id: UUID, expected_version: int, calendar: PeriodCalendar
    ) -> set[Month]:
        """Stop counting the expense; closed months keep it and get a reversal instead."""
        self._require_changeable(group, actor_id, expected_version)
        old_postings = self.postings
        self.status = ExpenseStatus.DELETED
        self.postings = rebook(old_postings, None, Month.of(self.incurred_on), calendar)
        self._record(
            ExpenseDeleted(
                expense_id=self.id,
                group_id=self.group_id,
                deleted_by=actor_id,
                postings=postings_data(self.postings),
            )
        )
        return months_touched(old_postings, self.postings)

    def _snapshot(self) -> dict[str, Any]:
        """The amendable fields as JSON values, to describe an amendment's before/after."""
        return {
            "amount_cents": self.amount,
            "currency": self.currency,
            "description": self.description,
            "category": self.category,
            "incurred_on": self.incurred_on.isoformat(),
            "payers": [p.model_dump(mode="json") for p in payers_data(self.payers)],
            "split": rule_data(self.rule).model_dump(mode="json", exclude_none=True),
            "shares": [s.model_dump(mode="json") for s in amounts_data(self.shares)],
        }

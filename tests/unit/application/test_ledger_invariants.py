"""Random walks of expense changes, invoices and voids through the bus keep the ledger whole.

After every step: each expense's postings add up to its current effect (nothing once
deleted), and every standing invoice still matches the ledger of the months it closed, so
no change ever slips silently into an invoiced month.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date
from uuid import UUID

import pytest

from aequatio.application.commands import (
    AddExpense,
    AmendExpense,
    CreateInvoice,
    DeleteExpense,
    VoidInvoice,
)
from aequatio.domain.calendar import Month, Period
from aequatio.domain.expense import ExpenseStatus
from aequatio.domain.invoice import InvoiceStatus
from aequatio.domain.ledger import total_effect
from aequatio.domain.sharing import SplitMode, SplitRule
from tests.unit.fakes import Harness, Person

MONTHS = [Month(2025, m) for m in range(1, 7)]


def check_expenses_add_up(h: Harness) -> None:
    for expense in h.db.expenses.values():
        effect = total_effect(expense.postings)
        contribution = expense.contribution
        if expense.status is ExpenseStatus.DELETED or contribution is None:
            assert effect == {}, expense.id
            continue
        paid: dict[UUID, int] = defaultdict(int)
        for payer in expense.payers:
            paid[payer.user_id] += payer.amount
        assert effect == {expense.currency: (dict(paid), dict(expense.shares))}, expense.id
        assert sum(expense.shares.values()) == expense.amount


def check_invoices_match_their_months(h: Harness) -> None:
    closed_by: dict[UUID, set[Month]] = defaultdict(set)
    for (_, month), row in h.db.periods.items():
        if row.invoice_id is not None:
            closed_by[row.invoice_id].add(month)
    for invoice in h.db.invoices.values():
        if invoice.status is InvoiceStatus.VOIDED:
            assert invoice.id not in closed_by
            continue
        assert closed_by[invoice.id] == set(invoice.period.months())
        paid: dict[UUID, int] = defaultdict(int)
        owed: dict[UUID, int] = defaultdict(int)
        for expense in h.db.expenses.values():
            for posting in expense.postings:
                if invoice.period.contains(posting.month):
                    for user, amount in posting.paid.items():
                        paid[user] += amount
                    for user, amount in posting.owed.items():
                        owed[user] += amount
        lines = {line.user_id: (line.paid, line.owed) for line in invoice.lines}
        ledger = {
            user: (paid[user], owed[user])
            for user in set(paid) | set(owed)
            if paid[user] or owed[user]
        }
        assert lines == ledger, invoice.id


async def step(h: Harness, rng: random.Random, group_id: UUID, people: list[Person]) -> None:
    actor = rng.choice(people)
    live = [e for e in h.db.expenses.values() if e.status is ExpenseStatus.ACTIVE]
    month = rng.choice(MONTHS)
    day = date(month.year, month.month, rng.randint(1, 28))
    action = rng.choice(["add", "add", "amend", "delete", "invoice", "invoice", "void"])
    h.clock.advance()
    if action == "add" or (not live and action in ("amend", "delete")):
        rule = rng.choice([SplitRule(SplitMode.EQUAL), SplitRule(SplitMode.SHARES)])
        await h.run(
            AddExpense(
                group_id=group_id,
                amount_cents=rng.randint(1, 100_000),
                currency="EUR",
                description="Something",
                incurred_on=day,
                split=rule,
            ),
            actor,
        )
    elif action == "amend":
        expense = rng.choice(live)
        if rng.random() < 0.5 or day == expense.incurred_on:
            change = AmendExpense(
                expense_id=expense.id,
                expected_version=expense.version,
                amount_cents=expense.amount % 100_000 + rng.randint(1, 500),
            )
        else:
            change = AmendExpense(
                expense_id=expense.id, expected_version=expense.version, incurred_on=day
            )
        await h.run(change, actor)
    elif action == "delete":
        expense = rng.choice(live)
        await h.run(DeleteExpense(expense_id=expense.id, expected_version=expense.version), actor)
    elif action == "invoice":
        if h.db.calendar(group_id).is_closed(month):
            return
        period = Period.month(month)
        await h.split(group_id, actor, period.start, period.end)
        await h.run(
            CreateInvoice(group_id=group_id, period_start=period.start, period_end=period.end),
            actor,
        )
    else:
        standing = [i for i in h.db.invoices.values() if i.status is InvoiceStatus.ISSUED]
        if standing:
            await h.run(VoidInvoice(invoice_id=rng.choice(standing).id), people[0])


@pytest.mark.parametrize("seed", range(12))
async def test_random_changes_keep_every_expense_whole_and_every_invoice_true(seed: int) -> None:
    rng = random.Random(seed)
    h = Harness()
    group_id, people = await h.family("Alice", "Bob", "Carol")

    for _ in range(40):
        await step(h, rng, group_id, people)
        check_expenses_add_up(h)
        check_invoices_match_their_months(h)

    assert h.db.expenses
    assert h.db.invoices

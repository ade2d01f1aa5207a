"""A month from first expense to invoice on the real database, read back from the tables."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import UUID

import pytest

from aequatio.application import commands
from aequatio.application.context import CommandContext, Principal
from aequatio.bootstrap import Application
from aequatio.domain.calendar import Month
from aequatio.domain.ledger import PostingKind, total_effect
from aequatio.domain.serialization import (
    balances_data,
    payers_data,
    postings_data,
    revisions_data,
    transfers_data,
)
from aequatio.domain.sharing import Payer, SplitMode, SplitRule
from aequatio.persistence.event_store import read_stream
from aequatio.persistence.unit_of_work import SqlUnitOfWork
from tests.support.family import Family, family

JANUARY = (date(2026, 1, 1), date(2026, 2, 1))
SAGA = Principal.system_process("saga.split")


def reading(application: Application) -> SqlUnitOfWork:
    return SqlUnitOfWork(application.engine, CommandContext(SAGA, now=datetime.now(UTC)))


async def spend(
    application: Application, fam: Family, amount: int, day: date, **extra: object
) -> UUID:
    result = await application.bus.handle(
        commands.AddExpense(
            group_id=fam.group_id,
            amount_cents=amount,
            currency=str(extra.pop("currency", "EUR")),
            description="shopping",
            incurred_on=day,
            **extra,  # type: ignore[arg-type]
        ),
        fam.owner.principal,
    )
    return result.aggregate_id


async def invoice_january(application: Application, fam: Family) -> UUID:
    split = await application.bus.handle(
        commands.RequestSplit(
            group_id=fam.group_id, period_start=JANUARY[0], period_end=JANUARY[1]
        ),
        fam.owner.principal,
    )
    await application.bus.handle(commands.CompleteSplit(split_id=split.aggregate_id), SAGA)
    invoice = await application.bus.handle(
        commands.CreateInvoice(
            group_id=fam.group_id, period_start=JANUARY[0], period_end=JANUARY[1]
        ),
        fam.owner.principal,
    )
    return invoice.aggregate_id


async def test_expenses_read_back_exactly_as_their_events_describe_them(
    application: Application,
) -> None:
    fam = await family(application.bus, "Ann", "Ben", "Cai")
    ann, ben, cai = (m.user_id for m in fam.members)
    expense_id = await spend(
        application,
        fam,
        10_001,
        date(2026, 1, 15),
        payers=(Payer(ann, 6_001), Payer(ben, 4_000)),
        split=SplitRule(SplitMode.SHARES, weights=((ann, 2), (ben, 1), (cai, 1))),
    )
    async with reading(application) as uow:
        expense = await uow.expenses.get(expense_id)
        stream = await read_stream(uow.connection, expense_id)
    assert expense is not None
    payload = stream[-1].payload
    assert payload["payers"] == [p.model_dump(mode="json") for p in payers_data(expense.payers)]
    assert payload["postings"] == [
        p.model_dump(mode="json") for p in postings_data(expense.postings)
    ]
    assert sum(expense.shares.values()) == 10_001


async def test_a_closed_month_books_late_changes_as_adjustments_in_the_next_month(
    application: Application,
) -> None:
    fam = await family(application.bus, "Ann", "Ben")
    ben = fam.others[0].user_id
    early = await spend(application, fam, 3_000, date(2026, 1, 10))
    invoice_id = await invoice_january(application, fam)

    late = await spend(application, fam, 1_000, date(2026, 1, 20), payers=(Payer(ben, 1_000),))
    await application.bus.handle(
        commands.DeleteExpense(expense_id=early, expected_version=1), fam.owner.principal
    )

    async with reading(application) as uow:
        late_expense = await uow.expenses.get(late)
        early_expense = await uow.expenses.get(early)
        calendar = await uow.calendar.load(fam.group_id)
    assert late_expense is not None
    assert early_expense is not None
    assert [(str(p.month), p.kind) for p in late_expense.postings] == [
        ("2026-02", PostingKind.ADJUSTMENT)
    ]
    assert [(str(p.month), p.kind) for p in early_expense.postings] == [
        ("2026-01", PostingKind.EXPENSE),
        ("2026-02", PostingKind.ADJUSTMENT),
    ]
    assert total_effect(early_expense.postings) == {}
    assert {str(month) for month in calendar.closed} == {"2026-01"}
    async with reading(application) as uow:
        closed_from_january = await uow.calendar.closed_since(fam.group_id, Month(2026, 1))
        closed_from_february = await uow.calendar.closed_since(fam.group_id, Month(2026, 2))
    assert closed_from_january.closed == calendar.closed
    assert closed_from_january.first_open_from(Month(2026, 1)) == Month(2026, 2)
    assert closed_from_february.closed == frozenset()
    with pytest.raises(ValueError, match="starts at 2026-02"):
        closed_from_february.is_closed(Month(2026, 1))
    with pytest.raises(ValueError, match="without the months' revisions"):
        closed_from_january.revision(Month(2026, 2))

    await application.bus.handle(commands.VoidInvoice(invoice_id=invoice_id), fam.owner.principal)
    async with reading(application) as uow:
        assert (await uow.calendar.load(fam.group_id)).closed == frozenset()


async def test_split_and_invoice_read_back_as_their_events_describe_them(
    application: Application,
) -> None:
    fam = await family(application.bus, "Ann", "Ben", "Cai")
    await spend(application, fam, 9_000, date(2026, 1, 4))
    await spend(application, fam, 2_000, date(2026, 1, 9), currency="USD")
    invoice_id = await invoice_january(application, fam)

    async with reading(application) as uow:
        invoice = await uow.invoices.get(invoice_id)
        assert invoice is not None
        split = await uow.splits.get(invoice.split_id)
        split_stream = await read_stream(uow.connection, invoice.split_id)
        invoice_stream = await read_stream(uow.connection, invoice_id)
    assert split is not None
    assert split.outcome is not None
    completed = split_stream[-1].payload
    assert completed["per_user_amounts"] == [
        b.model_dump(mode="json") for b in balances_data(split.outcome.balances)
    ]
    assert completed["transfers"] == [
        t.model_dump(mode="json") for t in transfers_data(split.outcome.transfers)
    ]
    assert completed["period_revisions"] == [
        r.model_dump(mode="json") for r in revisions_data(split.outcome.revisions)
    ]
    assert invoice_stream[-1].payload["total"] == [
        {"currency": "EUR", "amount_cents": 9_000},
        {"currency": "USD", "amount_cents": 2_000},
    ]
    assert invoice.totals == {"EUR": 9_000, "USD": 2_000}


async def test_a_split_that_missed_an_expense_is_not_invoiced_a_fresh_split_is_asked_for(
    application: Application,
) -> None:
    fam = await family(application.bus, "Ann", "Ben")
    await spend(application, fam, 3_000, date(2026, 1, 10))
    split = await application.bus.handle(
        commands.RequestSplit(
            group_id=fam.group_id, period_start=JANUARY[0], period_end=JANUARY[1]
        ),
        fam.owner.principal,
    )
    await application.bus.handle(commands.CompleteSplit(split_id=split.aggregate_id), SAGA)
    await spend(application, fam, 700, date(2026, 1, 11))

    asked = await application.bus.handle(
        commands.CreateInvoice(
            group_id=fam.group_id, period_start=JANUARY[0], period_end=JANUARY[1]
        ),
        fam.owner.principal,
    )

    assert asked.aggregate_type == "split"
    assert asked.aggregate_id != split.aggregate_id
    assert asked.event_types == ("split.requested",)

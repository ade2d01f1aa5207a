"""The month lifecycle: RequestSplit, CompleteSplit, CreateInvoice, VoidInvoice, MarkInvoicePaid.

An invoice closes its months; a later change to them is booked as an adjustment in the next
open month, and voiding the invoice opens them again.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID, uuid4

from aequatio.application.commands import (
    AddExpense,
    AmendExpense,
    CompleteSplit,
    ConversionInput,
    CreateInvoice,
    DeleteExpense,
    FailSplit,
    IssueInvoice,
    MarkInvoicePaid,
    RequestSplit,
    VoidInvoice,
)
from aequatio.application.ports import LockMode
from aequatio.domain.calendar import Month
from aequatio.domain.errors import Conflict, ErrorCode, Forbidden, NotFound
from aequatio.domain.invoice import InvoiceStatus
from aequatio.domain.split import SplitStatus
from tests.unit.fakes import SYSTEM, Harness, Person

JAN, FEB, MAR, APR, MAY = (date(2025, m, 1) for m in (1, 2, 3, 4, 5))
MARCH, APRIL, MAY_MONTH = Month(2025, 3), Month(2025, 4), Month(2025, 5)


def amounts(entries: list[dict[str, Any]]) -> dict[UUID, int]:
    return {UUID(entry["user_id"]): entry["amount_cents"] for entry in entries}


def nets(lines: list[dict[str, Any]]) -> dict[tuple[UUID, str], int]:
    return {(UUID(line["user_id"]), line["currency"]): line["net_cents"] for line in lines}


async def family(h: Harness) -> tuple[UUID, Person, Person]:
    group_id, (alice, bob) = await h.family("Alice", "Bob")
    return group_id, alice, bob


def invoice_for(group_id: UUID, start: date = MAR, end: date = APR) -> CreateInvoice:
    return CreateInvoice(group_id=group_id, period_start=start, period_end=end)


# -- requesting and completing splits --------------------------------------------------------


async def test_requesting_a_split_records_the_request() -> None:
    h = Harness()
    group_id, _, bob = await family(h)

    result = await h.run(
        RequestSplit(group_id=group_id, period_start=MAR, period_end=APR, issue_invoice=True), bob
    )

    assert (result.aggregate_type, result.aggregate_version) == ("split", 1)
    (event,) = h.events(result)
    assert (event.event_type, event.aggregate_version) == ("split.requested", 1)
    assert event.payload == {
        "group_id": str(group_id),
        "period_start": "2025-03-01",
        "period_end": "2025-04-01",
        "requested_by": str(bob.user_id),
        "split_id": str(result.aggregate_id),
        "conversion": None,
        "issue_invoice": True,
    }
    assert h.db.splits[result.aggregate_id].status is SplitStatus.REQUESTED


async def test_a_period_is_whole_months_at_most_a_year() -> None:
    h = Harness()
    group_id, alice, _ = await family(h)

    for start, end in (
        (date(2025, 3, 2), APR),
        (MAR, date(2025, 3, 31)),
        (MAR, MAR),
        (APR, MAR),
        (JAN, date(2026, 2, 1)),
    ):
        await h.rejects(
            RequestSplit(group_id=group_id, period_start=start, period_end=end),
            alice,
            ErrorCode.PERIOD_INVALID,
            field="period",
        )
        await h.rejects(
            CreateInvoice(group_id=group_id, period_start=start, period_end=end),
            alice,
            ErrorCode.PERIOD_INVALID,
            field="period",
        )
    await h.rejects(
        RequestSplit(group_id=group_id, period_start=date(1999, 12, 1), period_end=JAN),
        alice,
        ErrorCode.DATE_OUT_OF_RANGE,
        field="period.start",
    )
    await h.run(
        RequestSplit(group_id=group_id, period_start=JAN, period_end=date(2026, 1, 1)), alice
    )


async def test_only_members_request_splits() -> None:
    h = Harness()
    group_id, _, _ = await family(h)
    outsider = await h.register("Outsider")

    error = await h.rejects(
        RequestSplit(group_id=group_id, period_start=MAR, period_end=APR),
        outsider,
        ErrorCode.NOT_A_MEMBER,
    )

    assert isinstance(error, Forbidden)


async def test_asking_again_while_a_split_is_pending_returns_it() -> None:
    h = Harness()
    group_id, alice, bob = await family(h)
    first = await h.run(RequestSplit(group_id=group_id, period_start=MAR, period_end=APR), alice)
    before = h.db.snapshot()

    again = await h.run(RequestSplit(group_id=group_id, period_start=MAR, period_end=APR), bob)

    assert (again.aggregate_id, again.aggregate_version, again.event_ids) == (
        first.aggregate_id,
        1,
        (),
    )
    assert h.db.snapshot() == before
    await h.rejects(
        RequestSplit(group_id=group_id, period_start=MAR, period_end=APR, issue_invoice=True),
        bob,
        ErrorCode.SPLIT_PENDING,
        field="period",
    )


async def test_the_split_saga_completes_a_split_from_the_periods_postings() -> None:
    h = Harness()
    group_id, alice, bob = await family(h)
    await h.expense(group_id, alice, 3000, date(2025, 3, 2))
    await h.expense(group_id, bob, 1000, date(2025, 3, 20))
    await h.expense(group_id, bob, 777, date(2025, 4, 1))
    requested = await h.run(
        RequestSplit(group_id=group_id, period_start=MAR, period_end=APR), alice
    )
    h.clock.advance()

    result = await h.run(CompleteSplit(split_id=requested.aggregate_id), SYSTEM)

    assert (result.aggregate_id, result.aggregate_version) == (requested.aggregate_id, 2)
    (event,) = h.events(result)
    assert (event.event_type, event.aggregate_version, event.actor) == (
        "split.completed",
        2,
        "system:split-saga",
    )
    payload = event.payload
    assert (payload["period_start"], payload["period_end"]) == ("2025-03-01", "2025-04-01")
    assert nets(payload["per_user_amounts"]) == {
        (alice.user_id, "EUR"): 1000,
        (bob.user_id, "EUR"): -1000,
    }
    assert payload["transfers"] == [
        {
            "from_user_id": str(bob.user_id),
            "to_user_id": str(alice.user_id),
            "currency": "EUR",
            "amount_cents": 1000,
        }
    ]
    assert payload["period_revisions"] == [{"month": "2025-03-01", "revision": 2}]
    assert payload["adjustments"] == []
    split = h.db.splits[requested.aggregate_id]
    assert (split.status, split.completed_at) == (SplitStatus.COMPLETED, h.clock.now)


async def test_only_the_system_completes_a_split() -> None:
    h = Harness()
    group_id, alice, _ = await family(h)
    requested = await h.run(
        RequestSplit(group_id=group_id, period_start=MAR, period_end=APR), alice
    )

    error = await h.rejects(
        CompleteSplit(split_id=requested.aggregate_id), alice, ErrorCode.FORBIDDEN
    )

    assert isinstance(error, Forbidden)


async def test_completing_a_split_twice_is_harmless() -> None:
    h = Harness()
    group_id, alice, _ = await family(h)
    await h.expense(group_id, alice, 3000, date(2025, 3, 2))
    requested, completed = await h.split(group_id, alice, MAR, APR)
    before = h.db.snapshot()

    again = await h.run(CompleteSplit(split_id=requested.aggregate_id), SYSTEM)

    assert (again.aggregate_id, again.aggregate_version, again.event_ids) == (
        completed.aggregate_id,
        2,
        (),
    )
    assert h.db.snapshot() == before


async def test_completing_an_unknown_split_is_not_found() -> None:
    h = Harness()

    await h.rejects(
        CompleteSplit(split_id=uuid4()), SYSTEM, ErrorCode.SPLIT_NOT_FOUND, field="split_id"
    )


async def test_balances_are_converted_when_rates_are_given() -> None:
    h = Harness()
    group_id, alice, bob = await family(h)
    await h.expense(group_id, alice, 2000, date(2025, 3, 2))
    await h.expense(group_id, bob, 1000, date(2025, 3, 3), currency="USD")
    conversion = ConversionInput(currency="EUR", rates=(("USD", "0.9"),))

    _, completed = await h.split(group_id, alice, MAR, APR, conversion)

    payload = h.payload(completed)
    assert nets(payload["per_user_amounts"]) == {
        (alice.user_id, "EUR"): 1000,
        (bob.user_id, "EUR"): -1000,
        (alice.user_id, "USD"): -500,
        (bob.user_id, "USD"): 500,
    }
    converted = payload["converted"]
    assert converted["currency"] == "EUR"
    assert converted["rates"] == [{"currency": "USD", "rate": "0.9"}]
    assert nets(converted["per_user_amounts"]) == {
        (alice.user_id, "EUR"): 550,
        (bob.user_id, "EUR"): -550,
    }
    assert [(t["currency"], t["amount_cents"]) for t in payload["transfers"]] == [("EUR", 550)]


async def test_a_missing_rate_makes_the_split_fail_visibly() -> None:
    h = Harness()
    group_id, alice, _ = await family(h)
    await h.expense(group_id, alice, 1000, date(2025, 3, 3), currency="USD")
    conversion = ConversionInput(currency="EUR", rates=(("GBP", "1.2"),))

    requested, failed = await h.split(group_id, alice, MAR, APR, conversion)

    assert failed.aggregate_version == 2
    (event,) = h.events(failed)
    assert (event.event_type, event.aggregate_version) == ("split.failed", 2)
    assert event.payload["reason_code"] == "RATE_MISSING"
    assert event.payload["split_id"] == str(requested.aggregate_id)
    assert h.db.splits[requested.aggregate_id].status is SplitStatus.FAILED
    # The failed request is released: a new one (here from invoicing) may follow.
    again = await h.run(invoice_for(group_id), alice)
    assert (again.aggregate_type, again.aggregate_id != requested.aggregate_id) == ("split", True)


async def test_a_malformed_rate_is_refused_up_front() -> None:
    h = Harness()
    group_id, alice, _ = await family(h)

    for rate in ("abc", "0", "-1", "NaN"):
        await h.rejects(
            RequestSplit(
                group_id=group_id,
                period_start=MAR,
                period_end=APR,
                conversion=ConversionInput(currency="EUR", rates=(("USD", rate),)),
            ),
            alice,
            ErrorCode.RATE_INVALID,
            field="conversion.rates.0.rate",
        )


# -- invoicing -------------------------------------------------------------------------------


async def test_an_invoice_is_issued_from_the_completed_split_and_closes_the_month() -> None:
    h = Harness()
    group_id, alice, bob = await family(h)
    await h.expense(group_id, alice, 3000, date(2025, 3, 2))
    requested, _ = await h.split(group_id, bob, MAR, APR)
    h.db.group_locks.clear()

    result = await h.run(invoice_for(group_id), bob)

    assert (result.aggregate_type, result.aggregate_version) == ("invoice", 1)
    (event,) = h.events(result)
    assert (event.event_type, event.aggregate_version) == ("invoice.created", 1)
    payload = event.payload
    assert payload["invoice_id"] == str(result.aggregate_id)
    assert payload["split_id"] == str(requested.aggregate_id)
    assert (payload["period_start"], payload["period_end"]) == ("2025-03-01", "2025-04-01")
    assert payload["issued_by"] == str(bob.user_id)
    assert payload["currency"] is None
    assert payload["total"] == [{"currency": "EUR", "amount_cents": 3000}]
    assert nets(payload["lines"]) == {(alice.user_id, "EUR"): 1500, (bob.user_id, "EUR"): -1500}
    assert [(t["from_user_id"], t["amount_cents"]) for t in payload["transfers"]] == [
        (str(bob.user_id), 1500)
    ]
    assert h.db.calendar(group_id).closed == {MARCH}
    assert h.db.periods[(group_id, MARCH)].invoice_id == result.aggregate_id
    assert h.db.group_locks[0] == (group_id, LockMode.UPDATE)


async def test_invoicing_the_same_period_again_returns_the_same_invoice() -> None:
    h = Harness()
    group_id, alice, bob = await family(h)
    await h.expense(group_id, alice, 3000, date(2025, 3, 2))
    first = await h.invoice(group_id, alice, MAR, APR)
    before = h.db.snapshot()

    again = await h.run(invoice_for(group_id), bob)

    assert (again.aggregate_id, again.aggregate_version, again.event_ids, again.replayed) == (
        first.aggregate_id,
        1,
        (),
        False,
    )
    assert h.db.snapshot() == before


async def test_invoicing_without_a_completed_split_asks_for_a_split_to_invoice() -> None:
    h = Harness()
    group_id, alice, _ = await family(h)
    await h.expense(group_id, alice, 3000, date(2025, 3, 2))

    asked = await h.run(invoice_for(group_id), alice)

    (event,) = h.events(asked)
    assert (asked.aggregate_type, event.event_type) == ("split", "split.requested")
    assert event.payload["issue_invoice"] is True
    again = await h.run(invoice_for(group_id), alice)
    assert (again.aggregate_id, again.event_ids) == (asked.aggregate_id, ())


async def test_invoicing_while_a_split_is_pending_asks_that_split_to_be_invoiced() -> None:
    h = Harness()
    group_id, alice, bob = await family(h)
    pending = await h.run(RequestSplit(group_id=group_id, period_start=MAR, period_end=APR), alice)

    asked = await h.run(invoice_for(group_id), bob)

    (event,) = h.events(asked)
    assert (asked.aggregate_id, event.event_type) == (
        pending.aggregate_id,
        "split.invoice_requested",
    )
    assert event.payload["requested_by"] == str(bob.user_id)
    assert h.db.splits[pending.aggregate_id].issue_invoice is True


async def test_the_workflow_issues_the_invoice_once_the_split_completed() -> None:
    h = Harness()
    group_id, alice, bob = await family(h)
    await h.expense(group_id, alice, 3000, date(2025, 3, 2))
    asked = await h.run(invoice_for(group_id), bob)
    await h.run(CompleteSplit(split_id=asked.aggregate_id), SYSTEM)

    issued = await h.run(IssueInvoice(split_id=asked.aggregate_id), SYSTEM)
    twice = await h.run(IssueInvoice(split_id=asked.aggregate_id), SYSTEM)

    (event,) = h.events(issued)
    assert (issued.aggregate_type, event.event_type) == ("invoice", "invoice.created")
    assert event.payload["issued_by"] == str(bob.user_id)
    assert (twice.aggregate_id, twice.event_ids) == (issued.aggregate_id, ())
    assert h.db.periods[(group_id, MARCH)].invoice_id == issued.aggregate_id


async def test_a_split_that_missed_a_change_is_never_invoiced_a_fresh_one_is() -> None:
    h = Harness()
    group_id, alice, bob = await family(h)
    added = await h.expense(group_id, alice, 3000, date(2025, 3, 2))
    asked = await h.run(invoice_for(group_id), alice)
    await h.run(CompleteSplit(split_id=asked.aggregate_id), SYSTEM)
    await h.run(
        AmendExpense(expense_id=added.aggregate_id, expected_version=1, amount_cents=4000), bob
    )

    rerun = await h.run(IssueInvoice(split_id=asked.aggregate_id), SYSTEM)

    (event,) = h.events(rerun)
    assert (rerun.aggregate_type, event.event_type) == ("split", "split.requested")
    assert event.payload["issue_invoice"] is True
    assert event.payload["requested_by"] == str(alice.user_id)
    h.clock.advance()
    await h.run(CompleteSplit(split_id=rerun.aggregate_id), SYSTEM)
    issued = await h.run(IssueInvoice(split_id=rerun.aggregate_id), SYSTEM)
    assert h.payload(issued)["total"] == [{"currency": "EUR", "amount_cents": 4000}]


async def test_a_stale_completed_split_is_not_used_by_create_invoice() -> None:
    h = Harness()
    group_id, alice, bob = await family(h)
    await h.expense(group_id, alice, 3000, date(2025, 3, 2))
    await h.split(group_id, alice, MAR, APR)
    await h.expense(group_id, bob, 500, date(2025, 3, 30))

    asked = await h.run(invoice_for(group_id), alice)

    assert asked.aggregate_type == "split"
    assert not h.db.invoices


async def test_a_split_that_timed_out_is_failed_and_released() -> None:
    h = Harness()
    group_id, alice, _ = await family(h)
    asked = await h.run(invoice_for(group_id), alice)

    failed = await h.run(
        FailSplit(split_id=asked.aggregate_id, reason_code="SPLIT_TIMED_OUT", reason="late"),
        SYSTEM,
    )
    again = await h.run(
        FailSplit(split_id=asked.aggregate_id, reason_code="SPLIT_TIMED_OUT", reason="late"),
        SYSTEM,
    )

    (event,) = h.events(failed)
    assert (event.event_type, event.payload["reason_code"]) == ("split.failed", "SPLIT_TIMED_OUT")
    assert again.event_ids == ()
    await h.rejects(
        FailSplit(split_id=asked.aggregate_id, reason_code="X", reason="y"),
        alice,
        ErrorCode.FORBIDDEN,
    )


async def test_a_period_overlapping_an_invoiced_month_cannot_be_invoiced() -> None:
    h = Harness()
    group_id, alice, _ = await family(h)
    await h.expense(group_id, alice, 3000, date(2025, 3, 2))
    await h.invoice(group_id, alice, MAR, APR)
    await h.split(group_id, alice, MAR, MAY)

    await h.rejects(invoice_for(group_id, MAR, MAY), alice, ErrorCode.PERIOD_CLOSED, field="period")


async def test_only_members_issue_invoices() -> None:
    h = Harness()
    group_id, alice, _ = await family(h)
    outsider = await h.register("Outsider")
    await h.split(group_id, alice, MAR, APR)

    error = await h.rejects(invoice_for(group_id), outsider, ErrorCode.NOT_A_MEMBER)

    assert isinstance(error, Forbidden)


# -- a closed month ----------------------------------------------------------------------------


async def test_an_expense_added_later_for_a_closed_month_is_booked_in_the_next_open_one() -> None:
    h = Harness()
    group_id, alice, bob = await family(h)
    await h.expense(group_id, alice, 3000, date(2025, 3, 2))
    await h.invoice(group_id, alice, MAR, APR)

    late = await h.expense(group_id, bob, 1000, date(2025, 3, 15))

    payload = h.payload(late)
    assert payload["incurred_on"] == "2025-03-15"
    (posting,) = payload["postings"]
    assert (posting["month"], posting["kind"], posting["adjusts_month"]) == (
        "2025-04-01",
        "adjustment",
        "2025-03-01",
    )
    assert amounts(posting["paid"]) == {bob.user_id: 1000}
    calendar = h.db.calendar(group_id)
    assert (calendar.revision(MARCH), calendar.revision(APRIL)) == (1, 1)

    _, completed = await h.split(group_id, alice, APR, MAY)
    adjustments = h.payload(completed)["adjustments"]
    assert [(a["expense_id"], a["adjusts_month"]) for a in adjustments] == [
        (str(late.aggregate_id), "2025-03-01")
    ]
    april = await h.run(invoice_for(group_id, APR, MAY), alice)
    assert h.payload(april)["adjustments"] == adjustments


async def test_a_late_expense_skips_every_closed_month() -> None:
    h = Harness()
    group_id, alice, bob = await family(h)
    await h.invoice(group_id, alice, MAR, APR)
    await h.invoice(group_id, alice, APR, MAY)

    late = await h.expense(group_id, bob, 1000, date(2025, 3, 15))

    (posting,) = h.payload(late)["postings"]
    assert (posting["month"], posting["adjusts_month"]) == ("2025-05-01", "2025-03-01")


async def test_amending_an_expense_of_a_closed_month_books_the_difference_next_month() -> None:
    h = Harness()
    group_id, alice, bob = await family(h)
    added = await h.expense(group_id, alice, 3000, date(2025, 3, 2))
    await h.invoice(group_id, alice, MAR, APR)

    result = await h.run(
        AmendExpense(expense_id=added.aggregate_id, expected_version=1, amount_cents=4000), bob
    )

    closed, adjustment = h.payload(result)["postings"]
    assert (closed["month"], closed["kind"]) == ("2025-03-01", "expense")
    assert amounts(closed["paid"]) == {alice.user_id: 3000}
    assert amounts(closed["owed"]) == {alice.user_id: 1500, bob.user_id: 1500}
    assert (adjustment["month"], adjustment["kind"], adjustment["adjusts_month"]) == (
        "2025-04-01",
        "adjustment",
        "2025-03-01",
    )
    assert amounts(adjustment["paid"]) == {alice.user_id: 1000}
    assert amounts(adjustment["owed"]) == {alice.user_id: 500, bob.user_id: 500}
    calendar = h.db.calendar(group_id)
    assert (calendar.revision(MARCH), calendar.revision(APRIL)) == (1, 1)


async def test_deleting_an_expense_of_a_closed_month_books_its_reversal_next_month() -> None:
    h = Harness()
    group_id, alice, bob = await family(h)
    added = await h.expense(group_id, alice, 3000, date(2025, 3, 2))
    await h.invoice(group_id, alice, MAR, APR)

    result = await h.run(DeleteExpense(expense_id=added.aggregate_id, expected_version=1), bob)

    closed, reversal = h.payload(result)["postings"]
    assert (closed["month"], closed["kind"]) == ("2025-03-01", "expense")
    assert amounts(closed["paid"]) == {alice.user_id: 3000}
    assert (reversal["month"], reversal["kind"], reversal["adjusts_month"]) == (
        "2025-04-01",
        "adjustment",
        "2025-03-01",
    )
    assert amounts(reversal["paid"]) == {alice.user_id: -3000}
    assert amounts(reversal["owed"]) == {alice.user_id: -1500, bob.user_id: -1500}

    _, completed = await h.split(group_id, alice, APR, MAY)
    assert nets(h.payload(completed)["per_user_amounts"]) == {
        (alice.user_id, "EUR"): -1500,
        (bob.user_id, "EUR"): 1500,
    }


# -- voiding and paying ------------------------------------------------------------------------


async def test_voiding_an_invoice_reopens_its_month() -> None:
    h = Harness()
    group_id, alice, bob = await family(h)
    await h.expense(group_id, alice, 3000, date(2025, 3, 2))
    issued = await h.invoice(group_id, alice, MAR, APR)

    result = await h.run(VoidInvoice(invoice_id=issued.aggregate_id, reason=" Typo "), alice)

    assert (result.aggregate_id, result.aggregate_version) == (issued.aggregate_id, 2)
    (event,) = h.events(result)
    assert (event.event_type, event.aggregate_version) == ("invoice.voided", 2)
    assert event.payload == {
        "invoice_id": str(issued.aggregate_id),
        "group_id": str(group_id),
        "voided_by": str(alice.user_id),
        "reason": "Typo",
    }
    assert h.db.calendar(group_id).closed == frozenset()
    assert h.db.invoices[issued.aggregate_id].status is InvoiceStatus.VOIDED

    later = await h.expense(group_id, bob, 1000, date(2025, 3, 15))
    (posting,) = h.payload(later)["postings"]
    assert (posting["month"], posting["kind"], posting["adjusts_month"]) == (
        "2025-03-01",
        "expense",
        None,
    )


async def test_after_voiding_the_period_is_invoiced_again_from_a_fresh_split() -> None:
    h = Harness()
    group_id, alice, bob = await family(h)
    await h.expense(group_id, alice, 3000, date(2025, 3, 2))
    issued = await h.invoice(group_id, alice, MAR, APR)
    await h.run(VoidInvoice(invoice_id=issued.aggregate_id), alice)
    await h.expense(group_id, bob, 1000, date(2025, 3, 15))
    h.clock.advance()

    reissued = await h.invoice(group_id, alice, MAR, APR)

    assert reissued.aggregate_id != issued.aggregate_id
    assert h.payload(reissued)["total"] == [{"currency": "EUR", "amount_cents": 4000}]
    assert h.db.periods[(group_id, MARCH)].invoice_id == reissued.aggregate_id


async def test_a_paid_invoice_cannot_be_voided_or_paid_again() -> None:
    h = Harness()
    group_id, alice, _ = await family(h)
    issued = await h.invoice(group_id, alice, MAR, APR)

    paid = await h.run(MarkInvoicePaid(invoice_id=issued.aggregate_id), alice)

    assert paid.aggregate_version == 2
    (event,) = h.events(paid)
    assert (event.event_type, event.aggregate_version) == ("invoice.paid", 2)
    assert event.payload == {
        "invoice_id": str(issued.aggregate_id),
        "group_id": str(group_id),
        "paid_by": str(alice.user_id),
    }
    error = await h.rejects(
        VoidInvoice(invoice_id=issued.aggregate_id), alice, ErrorCode.INVOICE_NOT_ISSUED
    )
    assert isinstance(error, Conflict)
    await h.rejects(
        MarkInvoicePaid(invoice_id=issued.aggregate_id), alice, ErrorCode.INVOICE_NOT_ISSUED
    )
    assert h.db.calendar(group_id).closed == {MARCH}


async def test_a_voided_invoice_cannot_be_paid() -> None:
    h = Harness()
    group_id, alice, _ = await family(h)
    issued = await h.invoice(group_id, alice, MAR, APR)
    await h.run(VoidInvoice(invoice_id=issued.aggregate_id), alice)

    await h.rejects(
        MarkInvoicePaid(invoice_id=issued.aggregate_id), alice, ErrorCode.INVOICE_NOT_ISSUED
    )


async def test_only_managers_void_or_mark_invoices_paid() -> None:
    h = Harness()
    group_id, alice, bob = await family(h)
    issued = await h.invoice(group_id, alice, MAR, APR)

    for command in (
        VoidInvoice(invoice_id=issued.aggregate_id),
        MarkInvoicePaid(invoice_id=issued.aggregate_id),
    ):
        error = await h.rejects(command, bob, ErrorCode.FORBIDDEN)
        assert isinstance(error, Forbidden)


async def test_an_unknown_invoice_is_not_found() -> None:
    h = Harness()
    _, alice, _ = await family(h)

    for command in (VoidInvoice(invoice_id=uuid4()), MarkInvoicePaid(invoice_id=uuid4())):
        error = await h.rejects(command, alice, ErrorCode.INVOICE_NOT_FOUND, field="invoice_id")
        assert isinstance(error, NotFound)


async def test_an_expense_for_an_open_month_between_closed_ones_stays_in_its_month() -> None:
    h = Harness()
    group_id, alice, _ = await family(h)
    await h.invoice(group_id, alice, FEB, MAR)
    await h.invoice(group_id, alice, APR, MAY)

    result = await h.run(
        AddExpense(
            group_id=group_id,
            amount_cents=100,
            currency="EUR",
            description="Bread",
            incurred_on=date(2025, 3, 9),
        ),
        alice,
    )

    (posting,) = h.payload(result)["postings"]
    assert (posting["month"], posting["kind"]) == ("2025-03-01", "expense")
    assert h.db.calendar(group_id).closed == {Month(2025, 2), APRIL}
    assert MAY_MONTH not in h.db.calendar(group_id).closed


async def test_a_non_member_learns_nothing_about_the_groups_splits() -> None:
    h = Harness()
    group_id, alice, _ = await family(h)
    outsider = await h.register("Outsider")
    await h.run(RequestSplit(group_id=group_id, period_start=MAR, period_end=APR), alice)

    for request in (
        RequestSplit(group_id=group_id, period_start=MAR, period_end=APR, issue_invoice=True),
        RequestSplit(group_id=group_id, period_start=MAR, period_end=date(2025, 3, 15)),
    ):
        error = await h.rejects(request, outsider, ErrorCode.NOT_A_MEMBER)
        assert isinstance(error, Forbidden)


async def test_a_void_reason_is_at_most_500_characters() -> None:
    h = Harness()
    group_id, alice, _ = await family(h)
    issued = await h.invoice(group_id, alice, MAR, APR)

    await h.rejects(
        VoidInvoice(invoice_id=issued.aggregate_id, reason="x" * 501),
        alice,
        ErrorCode.TEXT_TOO_LONG,
        field="reason",
    )


async def test_rewording_an_expense_of_a_closed_month_books_no_adjustment() -> None:
    h = Harness()
    group_id, alice, _ = await family(h)
    added = await h.expense(group_id, alice, 3000, date(2025, 3, 2))
    await h.invoice(group_id, alice, MAR, APR)
    revisions = h.db.calendar(group_id).revisions

    result = await h.run(
        AmendExpense(expense_id=added.aggregate_id, expected_version=1, description="Market"),
        alice,
    )

    (posting,) = h.payload(result)["postings"]
    assert (posting["month"], posting["kind"]) == ("2025-03-01", "expense")
    assert h.db.calendar(group_id).revisions == revisions


async def test_a_system_process_does_not_issue_invoices() -> None:
    h = Harness()
    group_id, alice, _ = await family(h)
    await h.split(group_id, alice, MAR, APR)

    await h.rejects(invoice_for(group_id), SYSTEM, ErrorCode.FORBIDDEN)

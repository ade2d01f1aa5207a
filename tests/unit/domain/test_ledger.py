"""Rebooking an expense's postings: closed months stay frozen, the sum is always the target."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from aequatio.domain.calendar import Month, PeriodCalendar
from aequatio.domain.ledger import (
    Contribution,
    Posting,
    PostingKind,
    months_touched,
    rebook,
    total_effect,
)

ALICE, BOB, CAROL, DAN = (UUID(int=i) for i in range(1, 5))
MEMBERS = [ALICE, BOB, CAROL, DAN]
YEAR = [Month(2024, m) for m in range(1, 13)]
JAN, FEB, MAR, APR = YEAR[:4]

members = st.sampled_from(MEMBERS)
months = st.sampled_from(YEAR[:9])  # an expense's own month: leaves room for open months after
closable = st.frozensets(st.sampled_from(YEAR), max_size=8)


@st.composite
def contributions(draw: st.DrawFn) -> Contribution:
    """Who paid and who owes an amount: one or two payers, one or two people owing."""
    amount = draw(st.integers(min_value=1, max_value=10**6))
    paid_cut = draw(st.integers(min_value=0, max_value=amount))
    owed_cut = draw(st.integers(min_value=0, max_value=amount))
    paid: Counter[UUID] = Counter()
    owed: Counter[UUID] = Counter()
    paid[draw(members)] += paid_cut
    paid[draw(members)] += amount - paid_cut
    owed[draw(members)] += owed_cut
    owed[draw(members)] += amount - owed_cut
    return Contribution(
        currency=draw(st.sampled_from(["EUR", "JPY"])),
        paid={member: value for member, value in paid.items() if value},
        owed={member: value for member, value in owed.items() if value},
    )


@dataclass(frozen=True)
class Step:
    """One save of the expense: its new effect (None: deleted), its month, the calendar then."""

    target: Contribution | None
    month: Month
    calendar: PeriodCalendar


@st.composite
def histories(draw: st.DrawFn) -> list[Step]:
    """Creation, then amendments and deletions while invoices close more and more months.

    Now and then the closed set is redrawn entirely, so the rules are exercised against any
    calendar, not only against months closing in order.
    """
    closed_months: frozenset[Month] = frozenset()
    steps: list[Step] = []
    for index in range(draw(st.integers(min_value=1, max_value=6))):
        if draw(st.integers(0, 9)) == 0:
            closed_months = draw(closable)
        else:
            closed_months |= draw(closable if index else st.just(frozenset[Month]()))
        target = draw(st.none() | contributions()) if index else draw(contributions())
        steps.append(Step(target, draw(months), PeriodCalendar(closed=closed_months)))
    return steps


def replay(steps: Iterable[Step]) -> list[tuple[Step, list[Posting], list[Posting]]]:
    """Every step with the postings before and after it."""
    out: list[tuple[Step, list[Posting], list[Posting]]] = []
    postings: list[Posting] = []
    for step in steps:
        after = rebook(postings, step.target, step.month, step.calendar)
        out.append((step, postings, after))
        postings = after
    return out


def effect_of(target: Contribution | None) -> dict[str, tuple[dict[UUID, int], dict[UUID, int]]]:
    if target is None:
        return {}
    paid = {member: value for member, value in target.paid.items() if value}
    owed = {member: value for member, value in target.owed.items() if value}
    return {target.currency: (paid, owed)} if paid or owed else {}


def canonical(p: Posting) -> tuple[object, ...]:
    """Everything a posting says except its month, in a hashable, order-free form."""
    return (
        p.currency,
        tuple(sorted((str(m), v) for m, v in p.paid.items())),
        tuple(sorted((str(m), v) for m, v in p.owed.items())),
        p.kind,
        p.adjusts_month,
    )


def ledger_by_month(postings: Iterable[Posting]) -> dict[Month, Counter[tuple[object, ...]]]:
    out: dict[Month, Counter[tuple[object, ...]]] = {}
    for p in postings:
        out.setdefault(p.month, Counter())[canonical(p)] += 1
    return out


def posting(
    month: Month,
    paid: dict[UUID, int],
    owed: dict[UUID, int],
    *,
    currency: str = "EUR",
    adjusts: Month | None = None,
) -> Posting:
    kind = PostingKind.EXPENSE if adjusts is None else PostingKind.ADJUSTMENT
    return Posting(month, currency, paid, owed, kind=kind, adjusts_month=adjusts)


def closed(*closed_months: Month) -> PeriodCalendar:
    return PeriodCalendar(closed=frozenset(closed_months))


DINNER = Contribution("EUR", paid={ALICE: 100}, owed={ALICE: 50, BOB: 50})
BIGGER_DINNER = Contribution("EUR", paid={ALICE: 150}, owed={ALICE: 75, BOB: 75})


# --- invariants over whole histories -----------------------------------------------------------


@settings(max_examples=100)
@given(histories())
def test_postings_always_add_up_to_the_latest_effect(steps: list[Step]) -> None:
    for step, _, after in replay(steps):
        assert total_effect(after) == effect_of(step.target)


@settings(max_examples=100)
@given(histories())
def test_postings_in_closed_months_are_kept_exactly(steps: list[Step]) -> None:
    for step, before, after in replay(steps):
        frozen = [p for p in before if step.calendar.is_closed(p.month)]
        assert after[: len(frozen)] == frozen


@settings(max_examples=100)
@given(histories())
def test_nothing_new_is_ever_booked_into_a_closed_month(steps: list[Step]) -> None:
    for step, before, after in replay(steps):
        frozen = [p for p in before if step.calendar.is_closed(p.month)]
        assert [p for p in after if step.calendar.is_closed(p.month)] == frozen


@settings(max_examples=100)
@given(histories())
def test_open_months_hold_at_most_one_non_empty_posting_per_currency(steps: list[Step]) -> None:
    for step, _, after in replay(steps):
        open_postings = [p for p in after if not step.calendar.is_closed(p.month)]
        assert not any(p.is_empty for p in open_postings)
        assert len({(p.month, p.currency) for p in open_postings}) == len(open_postings)


@settings(max_examples=100)
@given(histories())
def test_months_touched_are_exactly_the_months_whose_postings_changed(steps: list[Step]) -> None:
    for _, before, after in replay(steps):
        old, new = ledger_by_month(before), ledger_by_month(after)
        changed = {m for m in set(old) | set(new) if old.get(m) != new.get(m)}
        assert months_touched(before, after) == changed


@settings(max_examples=100)
@given(histories())
def test_saving_again_without_a_change_books_nothing(steps: list[Step]) -> None:
    for step, _, after in replay(steps):
        again = rebook(after, step.target, step.month, step.calendar)
        assert (again, months_touched(after, again)) == (after, set())


@settings(max_examples=100)
@given(histories())
def test_whatever_is_booked_away_from_the_expense_month_is_an_adjustment(
    steps: list[Step],
) -> None:
    for step, before, after in replay(steps):
        frozen = [p for p in before if step.calendar.is_closed(p.month)]
        booked = after[len(frozen) :]
        assert all(p.kind is PostingKind.ADJUSTMENT for p in booked if p.month != step.month)


@settings(max_examples=100)
@given(histories())
def test_an_adjustment_names_an_earlier_closed_month_and_an_expense_names_none(
    steps: list[Step],
) -> None:
    for step, before, after in replay(steps):
        frozen = [p for p in before if step.calendar.is_closed(p.month)]
        for p in after[len(frozen) :]:
            if p.kind is PostingKind.EXPENSE:
                assert p.adjusts_month is None
            else:
                assert p.adjusts_month is not None
                assert p.adjusts_month < p.month
                assert step.calendar.is_closed(p.adjusts_month)


# --- adding ------------------------------------------------------------------------------------


@settings(max_examples=100)
@given(contributions(), months, closable)
def test_an_expense_in_an_open_month_is_booked_there_as_an_expense(
    target: Contribution, month: Month, closed_months: frozenset[Month]
) -> None:
    calendar = PeriodCalendar(closed=closed_months - {month})

    assert rebook([], target, month, calendar) == [
        Posting(month, target.currency, dict(target.paid), dict(target.owed))
    ]


@settings(max_examples=100)
@given(contributions(), months, closable)
def test_a_late_expense_lands_in_the_first_open_month_after_as_an_adjustment(
    target: Contribution, month: Month, closed_months: frozenset[Month]
) -> None:
    calendar = PeriodCalendar(closed=closed_months | {month})

    assert rebook([], target, month, calendar) == [
        Posting(
            month=calendar.first_open_from(month),
            currency=target.currency,
            paid=dict(target.paid),
            owed=dict(target.owed),
            kind=PostingKind.ADJUSTMENT,
            adjusts_month=month,
        )
    ]


def test_a_late_expense_skips_a_run_of_closed_months() -> None:
    booked = rebook([], DINNER, JAN, closed(JAN, FEB))

    assert booked == [posting(MAR, dict(DINNER.paid), dict(DINNER.owed), adjusts=JAN)]


# --- amending ----------------------------------------------------------------------------------


def test_amending_in_an_open_month_replaces_the_posting() -> None:
    before = rebook([], DINNER, JAN, PeriodCalendar())

    after = rebook(before, BIGGER_DINNER, JAN, PeriodCalendar())

    assert (after, months_touched(before, after)) == (
        [posting(JAN, {ALICE: 150}, {ALICE: 75, BOB: 75})],
        {JAN},
    )


def test_moving_an_expense_between_open_months_touches_both() -> None:
    before = rebook([], DINNER, JAN, PeriodCalendar())

    after = rebook(before, DINNER, MAR, PeriodCalendar())

    assert (after, months_touched(before, after)) == (
        [posting(MAR, {ALICE: 100}, {ALICE: 50, BOB: 50})],
        {JAN, MAR},
    )


def test_amending_after_the_month_closed_books_the_difference_in_the_next_open_month() -> None:
    before = rebook([], DINNER, JAN, PeriodCalendar())

    after = rebook(before, BIGGER_DINNER, JAN, closed(JAN))

    assert (after, months_touched(before, after)) == (
        [*before, posting(FEB, {ALICE: 50}, {ALICE: 25, BOB: 25}, adjusts=JAN)],
        {FEB},
    )


def test_changing_currency_after_close_reverses_one_and_books_the_other() -> None:
    before = rebook([], DINNER, JAN, PeriodCalendar())
    in_yen = Contribution("JPY", paid={ALICE: 16000}, owed={BOB: 16000})

    after = rebook(before, in_yen, JAN, closed(JAN))

    assert after == [
        *before,
        posting(FEB, {ALICE: -100}, {ALICE: -50, BOB: -50}, adjusts=JAN),
        posting(FEB, {ALICE: 16000}, {BOB: 16000}, currency="JPY", adjusts=JAN),
    ]


def test_an_amendment_that_cancels_out_in_the_open_month_books_nothing_new() -> None:
    before = rebook([], DINNER, JAN, closed(JAN))  # late: lands in February
    late_again = rebook(before, DINNER, JAN, closed(JAN, FEB))

    assert (late_again, months_touched(before, late_again)) == (before, set())


def test_moving_an_expense_into_a_closed_month_retags_its_posting_and_touches_the_month() -> None:
    before = rebook([], DINNER, FEB, closed(JAN))

    after = rebook(before, DINNER, JAN, closed(JAN))

    assert (after, months_touched(before, after)) == (
        [posting(FEB, dict(DINNER.paid), dict(DINNER.owed), adjusts=JAN)],
        {FEB},
    )


# --- deleting ----------------------------------------------------------------------------------


def test_deleting_from_an_open_month_removes_every_posting() -> None:
    before = rebook([], DINNER, MAR, PeriodCalendar())

    after = rebook(before, None, MAR, PeriodCalendar())

    assert (after, months_touched(before, after)) == ([], {MAR})


def test_deleting_after_close_keeps_the_closed_month_and_reverses_it_in_the_next() -> None:
    before = rebook([], DINNER, JAN, PeriodCalendar())

    after = rebook(before, None, JAN, closed(JAN))

    assert after == [*before, posting(FEB, {ALICE: -100}, {ALICE: -50, BOB: -50}, adjusts=JAN)]
    assert total_effect(after) == {}


def test_the_reversal_skips_closed_months_after_the_frozen_ones() -> None:
    before = rebook([], DINNER, FEB, PeriodCalendar())

    after = rebook(before, None, FEB, closed(FEB, MAR))

    assert after[1:] == [posting(APR, {ALICE: -100}, {ALICE: -50, BOB: -50}, adjusts=FEB)]


# --- postings and sums -------------------------------------------------------------------------


def test_a_negated_posting_flips_every_amount_and_keeps_the_rest() -> None:
    original = posting(FEB, {ALICE: 100}, {BOB: 60, CAROL: 40}, adjusts=JAN)

    assert original.negated() == posting(FEB, {ALICE: -100}, {BOB: -60, CAROL: -40}, adjusts=JAN)


def test_a_posting_of_only_zeros_is_empty() -> None:
    assert posting(JAN, {ALICE: 0}, {}).is_empty
    assert not posting(JAN, {}, {BOB: -1}).is_empty


def test_the_total_effect_sums_per_currency_and_drops_what_cancels_out() -> None:
    postings = [
        posting(JAN, {ALICE: 100}, {BOB: 100}),
        posting(FEB, {ALICE: -100}, {BOB: -100}, adjusts=JAN),
        posting(JAN, {CAROL: 5}, {DAN: 5}, currency="JPY"),
        posting(FEB, {CAROL: 5}, {CAROL: 5}, currency="JPY"),
    ]

    assert total_effect(postings) == {"JPY": ({CAROL: 10}, {CAROL: 5, DAN: 5})}


def test_nothing_is_touched_between_equal_ledgers() -> None:
    ledger = [posting(JAN, {ALICE: 1}, {BOB: 1}), posting(FEB, {ALICE: 2}, {BOB: 2})]

    assert months_touched(ledger, list(reversed(ledger))) == set()

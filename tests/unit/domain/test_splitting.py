"""A period's split: balances per currency, optional exact conversion, and the settle-up."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aequatio.domain.calendar import Month, Period, PeriodCalendar
from aequatio.domain.errors import ErrorCode, InvalidInput
from aequatio.domain.ledger import Posting, PostingKind
from aequatio.domain.splitting import (
    Balance,
    Conversion,
    CurrencyTransfer,
    SplitImpossible,
    SplitOutcome,
    compute_split,
)

ALICE, BOB, CAROL, DAN, ERIN, FRANK = (UUID(int=i) for i in range(1, 7))
MEMBERS = [ALICE, BOB, CAROL, DAN, ERIN, FRANK]
EXPENSES = [UUID(int=100 + i) for i in range(8)]
CURRENCIES = ["EUR", "JPY", "BHD"]
JAN, FEB, MAR = Month(2024, 1), Month(2024, 2), Month(2024, 3)
NO_CALENDAR = PeriodCalendar()

Entry = tuple[UUID, Posting]

members = st.sampled_from(MEMBERS)
currencies = st.sampled_from(CURRENCIES)
months = st.builds(Month, st.just(2024), st.integers(1, 12)) | st.sampled_from(
    [Month(2023, 11), Month(2023, 12), Month(2025, 1), Month(2025, 2)]
)
amounts = st.integers(min_value=-(10**6), max_value=10**6)


def without_zeros(amounts: dict[UUID, int]) -> dict[UUID, int]:
    return {member: amount for member, amount in amounts.items() if amount}


@st.composite
def postings(draw: st.DrawFn) -> Posting:
    """A posting whose paid and owed columns add up to the same amount (it may be negative)."""
    paid = draw(st.dictionaries(members, amounts, min_size=1, max_size=3))
    owed = draw(st.dictionaries(members, amounts, max_size=3))
    balancer = draw(members)
    owed[balancer] = owed.get(balancer, 0) + sum(paid.values()) - sum(owed.values())
    kind = draw(st.sampled_from(PostingKind))
    return Posting(
        month=draw(months),
        currency=draw(currencies),
        paid=without_zeros(paid),
        owed=without_zeros(owed),
        kind=kind,
        adjusts_month=draw(months) if kind is PostingKind.ADJUSTMENT else None,
    )


entries = st.lists(st.tuples(st.sampled_from(EXPENSES), postings()), max_size=12)


@st.composite
def periods(draw: st.DrawFn) -> Period:
    start = Month(2024, draw(st.integers(1, 12)))
    end = start
    for _ in range(draw(st.integers(1, 6))):
        end = end.next()
    return Period.of(start.first_day, end.first_day)


@st.composite
def conversions(draw: st.DrawFn) -> Conversion:
    """Conversion into one of the currencies, with a rate for every other one."""
    target = draw(currencies)
    rates = {
        code: str(draw(st.decimals(Decimal("0.000001"), Decimal(1000), places=6)))
        for code in CURRENCIES
        if code != target
    }
    return Conversion.parse(target, rates)


def covers(period: Period, month: Month) -> bool:
    """Whether ``month`` lies in ``[start, end)``, worked out without ``Period.contains``."""
    return Month.of(period.start) <= month < Month.of(period.end)


def inside(period: Period, items: Iterable[Entry]) -> list[Entry]:
    return [(expense, posting) for expense, posting in items if covers(period, posting.month)]


def expected_columns(items: Iterable[Entry]) -> dict[tuple[str, UUID], tuple[int, int]]:
    """(currency, member) -> (paid, owed), summed independently of the code under test."""
    paid: Counter[tuple[str, UUID]] = Counter()
    owed: Counter[tuple[str, UUID]] = Counter()
    for _, posting in items:
        for member, amount in posting.paid.items():
            paid[(posting.currency, member)] += amount
        for member, amount in posting.owed.items():
            owed[(posting.currency, member)] += amount
    return {key: (paid[key], owed[key]) for key in set(paid) | set(owed) if paid[key] or owed[key]}


def columns_of(balances: Iterable[Balance]) -> dict[tuple[str, UUID], tuple[int, int]]:
    return {(b.currency, b.user_id): (b.paid, b.owed) for b in balances}


def nets_after(
    balances: Iterable[Balance], transfers: Sequence[CurrencyTransfer]
) -> dict[tuple[str, UUID], int]:
    nets: Counter[tuple[str, UUID]] = Counter()
    for balance in balances:
        nets[(balance.currency, balance.user_id)] += balance.net
    for transfer in transfers:
        nets[(transfer.currency, transfer.debtor)] += transfer.amount
        nets[(transfer.currency, transfer.creditor)] -= transfer.amount
    return dict(nets)


def adjustment_key(
    expense: UUID,
    adjusts: Month | None,
    currency: str,
    paid: Mapping[UUID, int],
    owed: Mapping[UUID, int],
) -> str:
    """A comparable text form, so listed and expected adjustments compare as multisets."""
    return repr((expense, adjusts, currency, sorted(paid.items()), sorted(owed.items())))


def posting(
    currency: str,
    paid: dict[UUID, int],
    owed: dict[UUID, int],
    *,
    month: Month = JAN,
    adjusts: Month | None = None,
) -> Posting:
    kind = PostingKind.EXPENSE if adjusts is None else PostingKind.ADJUSTMENT
    return Posting(month, currency, paid, owed, kind=kind, adjusts_month=adjusts)


# --- balances ----------------------------------------------------------------------------------


@settings(max_examples=100)
@given(entries, periods())
def test_nets_sum_to_zero_in_every_currency(items: list[Entry], period: Period) -> None:
    outcome = compute_split(period, items, calendar=NO_CALENDAR)

    nets: Counter[str] = Counter()
    for balance in outcome.balances:
        nets[balance.currency] += balance.net
    assert set(nets.values()) <= {0}


@settings(max_examples=100)
@given(entries, periods())
def test_what_was_paid_equals_what_is_owed_in_every_currency(
    items: list[Entry], period: Period
) -> None:
    outcome = compute_split(period, items, calendar=NO_CALENDAR)

    paid: Counter[str] = Counter()
    owed: Counter[str] = Counter()
    for balance in outcome.balances:
        paid[balance.currency] += balance.paid
        owed[balance.currency] += balance.owed
    assert paid == owed


@settings(max_examples=100)
@given(entries, periods())
def test_balances_sum_exactly_the_postings_inside_the_period(
    items: list[Entry], period: Period
) -> None:
    outcome = compute_split(period, items, calendar=NO_CALENDAR)

    assert columns_of(outcome.balances) == expected_columns(inside(period, items))


@settings(max_examples=100)
@given(entries, entries, periods())
def test_postings_outside_the_period_change_nothing(
    items: list[Entry], noise: list[Entry], period: Period
) -> None:
    outside = [(e, p) for e, p in noise if not covers(period, p.month)]

    with_noise = compute_split(period, [*items, *outside], calendar=NO_CALENDAR)

    assert with_noise == compute_split(period, items, calendar=NO_CALENDAR)


@settings(max_examples=100)
@given(entries, periods(), st.none() | conversions(), st.randoms(use_true_random=False))
def test_the_split_does_not_depend_on_the_order_of_postings(
    items: list[Entry], period: Period, conversion: Conversion | None, rng: random.Random
) -> None:
    shuffled = list(items)
    rng.shuffle(shuffled)

    a = compute_split(period, items, calendar=NO_CALENDAR, conversion=conversion)
    b = compute_split(period, shuffled, calendar=NO_CALENDAR, conversion=conversion)

    assert (a.balances, a.converted, a.transfers) == (b.balances, b.converted, b.transfers)


def test_a_member_who_paid_and_owes_nothing_has_no_balance_row() -> None:
    items = [
        (EXPENSES[0], posting("EUR", {ALICE: 100}, {BOB: 100})),
        (EXPENSES[1], posting("EUR", {ALICE: -100}, {BOB: -100})),
        (EXPENSES[2], posting("EUR", {CAROL: 50}, {DAN: 50})),
    ]

    outcome = compute_split(Period.month(JAN), items, calendar=NO_CALENDAR)

    assert {b.user_id for b in outcome.balances} == {CAROL, DAN}


def test_currencies_are_never_mixed_without_a_conversion() -> None:
    items = [
        (EXPENSES[0], posting("EUR", {ALICE: 1000}, {ALICE: 500, BOB: 500})),
        (EXPENSES[1], posting("JPY", {BOB: 3000}, {ALICE: 1500, BOB: 1500})),
    ]

    outcome = compute_split(Period.month(JAN), items, calendar=NO_CALENDAR)

    assert set(outcome.transfers) == {
        CurrencyTransfer(debtor=BOB, creditor=ALICE, currency="EUR", amount=500),
        CurrencyTransfer(debtor=ALICE, creditor=BOB, currency="JPY", amount=1500),
    }


# --- adjustments, revisions, totals ------------------------------------------------------------


@settings(max_examples=100)
@given(entries, periods())
def test_every_adjustment_inside_the_period_is_listed_and_nothing_else(
    items: list[Entry], period: Period
) -> None:
    outcome = compute_split(period, items, calendar=NO_CALENDAR)

    expected = sorted(
        adjustment_key(expense, p.adjusts_month, p.currency, p.paid, p.owed)
        for expense, p in inside(period, items)
        if p.kind is PostingKind.ADJUSTMENT
    )
    listed = sorted(
        adjustment_key(a.expense_id, a.adjusts_month, a.currency, a.paid, a.owed)
        for a in outcome.adjustments
    )
    assert listed == expected


def test_a_late_change_shows_up_as_an_adjustment_of_the_closed_month() -> None:
    late = posting("EUR", {ALICE: 300}, {BOB: 300}, month=FEB, adjusts=JAN)

    outcome = compute_split(Period.month(FEB), [(EXPENSES[0], late)], calendar=NO_CALENDAR)

    assert [(a.expense_id, a.adjusts_month, a.paid, a.owed) for a in outcome.adjustments] == [
        (EXPENSES[0], JAN, {ALICE: 300}, {BOB: 300})
    ]


@settings(max_examples=100)
@given(periods(), st.dictionaries(months, st.integers(0, 50)))
def test_the_split_records_the_revision_of_every_month_it_covers(
    period: Period, revisions: dict[Month, int]
) -> None:
    calendar = PeriodCalendar(revisions=revisions)

    outcome = compute_split(period, [], calendar=calendar)

    assert outcome.revisions == {month: revisions.get(month, 0) for month in period.months()}


@settings(max_examples=100)
@given(entries, periods())
def test_totals_are_what_was_owed_per_currency(items: list[Entry], period: Period) -> None:
    outcome = compute_split(period, items, calendar=NO_CALENDAR)

    expected: Counter[str] = Counter()
    for (currency, _), (_, owed) in expected_columns(inside(period, items)).items():
        expected[currency] += owed
    assert outcome.totals() == dict(sorted(expected.items()))


# --- settle-up ---------------------------------------------------------------------------------


@settings(max_examples=100)
@given(entries, periods())
def test_the_transfers_settle_every_balance_in_its_own_currency(
    items: list[Entry], period: Period
) -> None:
    outcome = compute_split(period, items, calendar=NO_CALENDAR)

    assert set(nets_after(outcome.balances, outcome.transfers).values()) <= {0}


@settings(max_examples=100)
@given(entries, periods(), conversions())
def test_with_a_conversion_the_transfers_settle_the_converted_balances(
    items: list[Entry], period: Period, conversion: Conversion
) -> None:
    outcome = compute_split(period, items, calendar=NO_CALENDAR, conversion=conversion)

    assert outcome.converted is not None
    assert {t.currency for t in outcome.transfers} <= {conversion.currency}
    assert set(nets_after(outcome.converted, outcome.transfers).values()) <= {0}


# --- conversion --------------------------------------------------------------------------------


@settings(max_examples=100)
@given(entries, periods(), conversions())
def test_converted_nets_sum_to_zero(
    items: list[Entry], period: Period, conversion: Conversion
) -> None:
    outcome = compute_split(period, items, calendar=NO_CALENDAR, conversion=conversion)

    assert outcome.converted is not None
    assert sum(balance.net for balance in outcome.converted) == 0


@settings(max_examples=100)
@given(entries, periods(), conversions())
def test_every_converted_row_is_in_the_target_currency(
    items: list[Entry], period: Period, conversion: Conversion
) -> None:
    outcome = compute_split(period, items, calendar=NO_CALENDAR, conversion=conversion)

    assert outcome.converted is not None
    assert {balance.currency for balance in outcome.converted} <= {conversion.currency}


@settings(max_examples=100)
@given(entries, periods(), conversions(), currencies)
def test_each_currency_column_converts_to_its_rounded_total(
    items: list[Entry], period: Period, conversion: Conversion, currency: str
) -> None:
    one_currency = [(e, p) for e, p in items if p.currency == currency]
    total_owed = sum(owed for _, owed in expected_columns(inside(period, one_currency)).values())
    converted_total = round(total_owed * conversion.factor(currency))

    outcome = compute_split(period, one_currency, calendar=NO_CALENDAR, conversion=conversion)

    assert outcome.converted is not None
    assert sum(b.paid for b in outcome.converted) == converted_total
    assert sum(b.owed for b in outcome.converted) == converted_total


@settings(max_examples=100)
@given(entries, periods(), conversions())
def test_a_mixed_split_converts_each_currency_on_its_own(
    items: list[Entry], period: Period, conversion: Conversion
) -> None:
    per_member: defaultdict[UUID, list[int]] = defaultdict(lambda: [0, 0])
    for currency in CURRENCIES:
        alone = compute_split(
            period,
            [(e, p) for e, p in items if p.currency == currency],
            calendar=NO_CALENDAR,
            conversion=conversion,
        )
        assert alone.converted is not None
        for balance in alone.converted:
            per_member[balance.user_id][0] += balance.paid
            per_member[balance.user_id][1] += balance.owed

    mixed = compute_split(period, items, calendar=NO_CALENDAR, conversion=conversion)

    assert mixed.converted is not None
    assert {b.user_id: [b.paid, b.owed] for b in mixed.converted} == dict(per_member)


@settings(max_examples=100)
@given(entries, periods(), conversions())
def test_each_converted_amount_is_its_exact_value_rounded_per_currency(
    items: list[Entry], period: Period, conversion: Conversion
) -> None:
    exact: defaultdict[UUID, list[Fraction]] = defaultdict(lambda: [Fraction(0), Fraction(0)])
    columns = expected_columns(inside(period, items))
    for (currency, member), (paid, owed) in columns.items():
        exact[member][0] += paid * conversion.factor(currency)
        exact[member][1] += owed * conversion.factor(currency)
    currencies_present = len({currency for currency, _ in columns})

    outcome = compute_split(period, items, calendar=NO_CALENDAR, conversion=conversion)

    assert outcome.converted is not None
    for balance in outcome.converted:
        exact_paid, exact_owed = exact[balance.user_id]
        assert abs(balance.paid - exact_paid) < currencies_present
        assert abs(balance.owed - exact_owed) < currencies_present


@settings(max_examples=100)
@given(entries, periods(), conversions())
def test_converted_totals_are_reported_in_the_target_currency_alone(
    items: list[Entry], period: Period, conversion: Conversion
) -> None:
    outcome = compute_split(period, items, calendar=NO_CALENDAR, conversion=conversion)

    assert outcome.converted is not None
    expected = {conversion.currency: sum(b.owed for b in outcome.converted)}
    assert outcome.totals() == (expected if outcome.converted else {})


def test_yen_are_converted_into_euro_cents() -> None:
    items = [(EXPENSES[0], posting("JPY", {ALICE: 1000}, {ALICE: 500, BOB: 500}))]
    conversion = Conversion.parse("EUR", {"JPY": "0.0061"})

    outcome = compute_split(Period.month(JAN), items, calendar=NO_CALENDAR, conversion=conversion)

    assert (outcome.converted, outcome.transfers) == (
        (Balance(ALICE, "EUR", 610, 305), Balance(BOB, "EUR", 0, 305)),
        (CurrencyTransfer(debtor=BOB, creditor=ALICE, currency="EUR", amount=305),),
    )


def test_an_odd_converted_cent_is_not_created_or_lost() -> None:
    # 100 fils at 2.45 EUR/BHD is 24.5 cents: the total rounds to 24 (half to even), split 12/12.
    items = [(EXPENSES[0], posting("BHD", {ALICE: 100}, {ALICE: 50, BOB: 50}))]
    conversion = Conversion.parse("EUR", {"BHD": "2.45"})

    outcome = compute_split(Period.month(JAN), items, calendar=NO_CALENDAR, conversion=conversion)

    assert outcome.converted == (Balance(ALICE, "EUR", 24, 12), Balance(BOB, "EUR", 0, 12))


def test_a_missing_rate_makes_the_split_impossible() -> None:
    items = [(EXPENSES[0], posting("JPY", {ALICE: 1000}, {BOB: 1000}))]
    conversion = Conversion.parse("EUR", {"BHD": "2.45"})

    with pytest.raises(SplitImpossible) as caught:
        compute_split(Period.month(JAN), items, calendar=NO_CALENDAR, conversion=conversion)

    assert caught.value.code is ErrorCode.RATE_MISSING


def test_no_rate_is_needed_for_a_currency_used_only_outside_the_period() -> None:
    items = [
        (EXPENSES[0], posting("EUR", {ALICE: 100}, {BOB: 100}, month=JAN)),
        (EXPENSES[1], posting("JPY", {ALICE: 1000}, {BOB: 1000}, month=MAR)),
    ]
    conversion = Conversion.parse("EUR", {})

    outcome = compute_split(Period.month(JAN), items, calendar=NO_CALENDAR, conversion=conversion)

    assert outcome.converted == (Balance(ALICE, "EUR", 100, 0), Balance(BOB, "EUR", 0, 100))


def test_converting_nothing_gives_no_rows() -> None:
    outcome = compute_split(
        Period.month(JAN), [], calendar=NO_CALENDAR, conversion=Conversion.parse("EUR", {})
    )

    assert (outcome.converted, outcome.transfers, outcome.totals()) == ((), (), {})


# --- Conversion.factor -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "source", "rate", "factor"),
    [
        ("JPY", "EUR", "160", Fraction(8, 5)),  # 1 cent is 1.6 yen
        ("EUR", "JPY", "0.0061", Fraction(61, 100)),  # 1 yen is 0.61 cents
        ("EUR", "BHD", "2.45", Fraction(245, 1000)),  # 1 fils is 0.245 cents
        ("BHD", "JPY", "0.0025", Fraction(25, 10)),  # 1 yen is 2.5 fils
    ],
)
def test_the_factor_converts_minor_units_using_both_exponents(
    target: str, source: str, rate: str, factor: Fraction
) -> None:
    assert Conversion.parse(target, {source: rate}).factor(source) == factor


def test_the_target_currency_converts_at_one() -> None:
    assert Conversion.parse("EUR", {}).factor("EUR") == 1


def test_a_factor_without_a_rate_is_a_missing_rate() -> None:
    with pytest.raises(SplitImpossible) as caught:
        Conversion.parse("EUR", {"JPY": "0.0061"}).factor("BHD")

    assert caught.value.code is ErrorCode.RATE_MISSING


# --- Conversion.parse --------------------------------------------------------------------------


def test_rates_are_parsed_as_exact_decimals() -> None:
    conversion = Conversion.parse("EUR", {"JPY": "0.0061", "BHD": "2.45"})

    assert conversion == Conversion("EUR", {"JPY": Decimal("0.0061"), "BHD": Decimal("2.45")})


@pytest.mark.parametrize(
    "rate", ["1000000", "1E+6", "0.000000000001", "1e-12", "1", "0.1000000000000"]
)
def test_rates_at_the_bounds_are_accepted(rate: str) -> None:
    assert Conversion.parse("EUR", {"JPY": rate}).rates["JPY"] == Decimal(rate)


@pytest.mark.parametrize(
    "rate",
    [
        "abc",
        "",
        "1,5",
        "0",
        "0.000",
        "-1",
        "-0.5",
        "0.0000000000001",
        "1e-13",
        "1000000.000001",
        "1e7",
        "NaN",
        "sNaN",
        "Infinity",
        "-Infinity",
        None,
        0.1,
    ],
)
def test_bad_rates_are_invalid_and_name_their_position(rate: Any) -> None:
    with pytest.raises(InvalidInput) as caught:
        Conversion.parse("EUR", {"JPY": "0.0061", "BHD": rate})

    assert (caught.value.code, caught.value.field) == (
        ErrorCode.RATE_INVALID,
        "conversion.rates.1.rate",
    )


@settings(max_examples=100)
@given(st.decimals(min_value=Decimal("1000000.000000000001"), allow_nan=False, places=12))
def test_rates_above_a_million_are_invalid(rate: Decimal) -> None:
    with pytest.raises(InvalidInput) as caught:
        Conversion.parse("EUR", {"JPY": str(rate)})

    assert (caught.value.code, caught.value.field) == (
        ErrorCode.RATE_INVALID,
        "conversion.rates.0.rate",
    )


@settings(max_examples=100)
@given(st.decimals(max_value=0, allow_nan=False, allow_infinity=False, places=6))
def test_rates_of_zero_or_below_are_invalid(rate: Decimal) -> None:
    with pytest.raises(InvalidInput) as caught:
        Conversion.parse("EUR", {"JPY": str(rate)})

    assert caught.value.code is ErrorCode.RATE_INVALID


@pytest.mark.parametrize("code", ["XAU", "jpy", "YEN", ""])
def test_an_unknown_source_currency_names_its_position(code: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        Conversion.parse("EUR", {"JPY": "0.0061", code: "1"})

    assert (caught.value.code, caught.value.field) == (
        ErrorCode.UNKNOWN_CURRENCY,
        "conversion.rates.1.currency",
    )


@pytest.mark.parametrize("code", ["XAU", "eur", "EURO"])
def test_an_unknown_target_currency_is_reported_on_the_target(code: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        Conversion.parse(code, {"JPY": "0.0061"})

    assert (caught.value.code, caught.value.field) == (
        ErrorCode.UNKNOWN_CURRENCY,
        "conversion.currency",
    )


def test_outcome_type_is_a_value_object() -> None:
    outcome = compute_split(Period.month(JAN), [], calendar=NO_CALENDAR)

    assert outcome == SplitOutcome(
        balances=(), transfers=(), converted=None, adjustments=(), revisions={JAN: 0}
    )


def test_a_posting_for_someone_the_group_never_knew_fails_the_split_typed() -> None:
    stranger, member = UUID(int=900), UUID(int=1)
    posting = Posting(
        month=Month(2026, 1), currency="EUR", paid={member: 100}, owed={stranger: 100}
    )
    with pytest.raises(SplitImpossible) as caught:
        compute_split(
            Period.month(Month(2026, 1)),
            [(UUID(int=7), posting)],
            calendar=PeriodCalendar(),
            members={member},
        )
    assert caught.value.code is ErrorCode.NOT_A_MEMBER

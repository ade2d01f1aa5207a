"""Currencies with their ISO 4217 exponents, and bounded positive integer amounts."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aequatio.domain.errors import ErrorCode, ErrorKind, InvalidInput
from aequatio.domain.money import (
    MAX_AMOUNT_MINOR,
    currency_of,
    known_currency_codes,
    require_amount,
)

# --- currency_of -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "exponent"),
    [("JPY", 0), ("KRW", 0), ("EUR", 2), ("USD", 2), ("CHF", 2), ("BHD", 3), ("KWD", 3)],
)
def test_currency_carries_its_iso_4217_minor_unit_exponent(code: str, exponent: int) -> None:
    currency = currency_of(code)

    assert (currency.code, currency.exponent) == (code, exponent)


@pytest.mark.parametrize("code", ["XAU", "XAG", "XDR", "XXX", "XTS"])
def test_metals_funds_and_test_codes_without_minor_units_are_rejected(code: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        currency_of(code)

    assert caught.value.code is ErrorCode.UNKNOWN_CURRENCY


@pytest.mark.parametrize("code", ["", "eur", "Eur", "EURO", "EU", "ZZZ", " EUR"])
def test_codes_that_are_not_upper_case_iso_4217_are_rejected(code: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        currency_of(code)

    assert caught.value.code is ErrorCode.UNKNOWN_CURRENCY


@pytest.mark.parametrize("code", [None, 978, b"EUR"])
def test_a_code_that_is_not_text_is_an_unknown_currency_not_a_crash(code: Any) -> None:
    with pytest.raises(InvalidInput) as caught:
        currency_of(code)

    assert caught.value.code is ErrorCode.UNKNOWN_CURRENCY


def test_unknown_currency_names_the_default_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        currency_of("XAU")

    assert (caught.value.field, caught.value.kind) == ("currency", ErrorKind.INVALID_INPUT)


def test_unknown_currency_names_the_field_it_was_given() -> None:
    with pytest.raises(InvalidInput) as caught:
        currency_of("XAU", field="payers.2.currency")

    assert caught.value.field == "payers.2.currency"


def test_known_codes_are_exactly_the_codes_currency_of_accepts() -> None:
    codes = known_currency_codes()

    assert {"EUR", "JPY", "BHD"} <= codes
    assert "XAU" not in codes
    assert all(currency_of(code).code == code for code in codes)


def test_every_known_currency_has_a_small_non_negative_exponent() -> None:
    exponents = {currency_of(code).exponent for code in known_currency_codes()}

    assert exponents <= {0, 1, 2, 3, 4}


# --- require_amount ----------------------------------------------------------------------------


@settings(max_examples=200)
@given(st.integers(min_value=1, max_value=MAX_AMOUNT_MINOR))
def test_any_amount_within_bounds_is_returned_unchanged(amount: int) -> None:
    assert require_amount(amount) == amount


@pytest.mark.parametrize("amount", [1, MAX_AMOUNT_MINOR])
def test_the_bounds_themselves_are_accepted(amount: int) -> None:
    assert require_amount(amount) == amount


@settings(max_examples=100)
@given(st.integers(max_value=0))
def test_zero_and_negative_amounts_are_not_positive(amount: int) -> None:
    with pytest.raises(InvalidInput) as caught:
        require_amount(amount)

    assert (caught.value.code, caught.value.field) == (
        ErrorCode.AMOUNT_NOT_POSITIVE,
        "amount_cents",
    )


@settings(max_examples=100)
@given(st.integers(min_value=MAX_AMOUNT_MINOR + 1))
def test_amounts_above_twelve_digits_are_too_large(amount: int) -> None:
    with pytest.raises(InvalidInput) as caught:
        require_amount(amount, field="payers.0.amount_cents")

    assert (caught.value.code, caught.value.field) == (
        ErrorCode.AMOUNT_TOO_LARGE,
        "payers.0.amount_cents",
    )


def test_the_maximum_amount_is_safe_as_a_json_number() -> None:
    assert MAX_AMOUNT_MINOR < 2**53


@pytest.mark.parametrize("amount", [True, False, 1.0, 12.5, "100", None])
def test_amounts_that_are_not_plain_integers_are_rejected(amount: Any) -> None:
    with pytest.raises(InvalidInput) as caught:
        require_amount(amount)

    assert caught.value.code is ErrorCode.AMOUNT_NOT_POSITIVE

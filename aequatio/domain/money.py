"""Currencies with their ISO 4217 minor-unit exponent, and bounded integer amounts.

Money is never a float: an amount is an ``int`` of minor units (cents, yen, fils) and its
meaning depends on the currency's exponent (EUR 2, JPY 0, BHD 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from iso4217 import Currency as _Iso4217

from aequatio.domain.errors import ErrorCode, InvalidInput

#: Largest amount accepted, in minor units: twelve digits, safe in JSON numbers (< 2**53).
MAX_AMOUNT_MINOR = 999_999_999_999


@dataclass(frozen=True, slots=True)
class Currency:
    """An ISO 4217 currency that has minor units (funds and metals like XAU are excluded)."""

    code: str
    exponent: int


@cache
def _table() -> dict[str, Currency]:
    return {
        entry.code: Currency(entry.code, entry.exponent)
        for entry in _Iso4217
        if entry.exponent is not None
    }


def currency_of(code: str, *, field: str = "currency") -> Currency:
    """The currency for an ISO 4217 code (upper case), or a typed ``UNKNOWN_CURRENCY``."""
    found = _table().get(code) if isinstance(code, str) else None
    if found is None:
        raise InvalidInput(
            ErrorCode.UNKNOWN_CURRENCY, f"{code!r} is not an ISO 4217 currency code", field=field
        )
    return found


def known_currency_codes() -> frozenset[str]:
    """All codes ``currency_of`` accepts."""
    return frozenset(_table())


def require_amount(amount: int, *, field: str = "amount_cents") -> int:
    """Check an amount is a positive integer within bounds; return it."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidInput(
            ErrorCode.AMOUNT_NOT_POSITIVE, "amounts are whole minor units", field=field
        )
    if amount <= 0:
        raise InvalidInput(
            ErrorCode.AMOUNT_NOT_POSITIVE, "the amount must be above zero", field=field
        )
    if amount > MAX_AMOUNT_MINOR:
        raise InvalidInput(
            ErrorCode.AMOUNT_TOO_LARGE,
            f"the amount may not exceed {MAX_AMOUNT_MINOR} minor units",
            field=field,
        )
    return amount

"""Computing a period's split: paid, owed and net per member and currency, and settle-up.

Currencies are never mixed silently: each has its own balances and transfers. When the request
brings exchange rates, every currency's paid and owed columns are converted into the target
currency with exact rounding (each column keeps a common total, so the nets still sum to
zero) and one settle-up plan is made in that currency.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from uuid import UUID

from aequatio.domain.allocation import allocate_exact
from aequatio.domain.calendar import Month, Period, PeriodCalendar
from aequatio.domain.errors import ErrorCode, InvalidInput, field_path
from aequatio.domain.ledger import Posting, PostingKind
from aequatio.domain.money import currency_of
from aequatio.domain.settlement import settle

MAX_RATE = Decimal(1_000_000)
MAX_RATE_DECIMALS = 12


@dataclass(frozen=True, slots=True)
class Conversion:
    """Target currency and, per source currency, target major units per source major unit."""

    currency: str
    rates: Mapping[str, Decimal]

    @classmethod
    def parse(cls, currency: str, rates: Mapping[str, str]) -> Conversion:
        target = currency_of(currency, field="conversion.currency").code
        parsed: dict[str, Decimal] = {}
        for index, (code, text) in enumerate(rates.items()):
            source = currency_of(code, field=field_path("conversion", "rates", index, "currency"))
            parsed[source.code] = _parse_rate(
                text, field=field_path("conversion", "rates", index, "rate")
            )
        return cls(currency=target, rates=parsed)

    def factor(self, source: str) -> Fraction:
        """Target minor units per source minor unit."""
        if source == self.currency:
            return Fraction(1)
        rate = self.rates.get(source)
        if rate is None:
            raise SplitImpossible(
                ErrorCode.RATE_MISSING, f"no exchange rate from {source} to {self.currency}"
            )
        shift = currency_of(self.currency).exponent - currency_of(source).exponent
        return Fraction(rate) * Fraction(10) ** shift


def _parse_rate(text: str, *, field: str) -> Decimal:
    try:
        rate = Decimal(text)
    except (InvalidOperation, TypeError):
        raise InvalidInput(
            ErrorCode.RATE_INVALID, "a rate is a decimal number", field=field
        ) from None
    exponent = rate.normalize().as_tuple().exponent if rate.is_finite() else 0
    if (
        not rate.is_finite()
        or rate <= 0
        or rate > MAX_RATE
        or (isinstance(exponent, int) and -exponent > MAX_RATE_DECIMALS)
    ):
        raise InvalidInput(
            ErrorCode.RATE_INVALID,
            f"a rate is above 0, at most {MAX_RATE}, with at most {MAX_RATE_DECIMALS} decimals",
            field=field,
        )
    return rate


class SplitImpossible(Exception):
    """The split cannot be computed from what was asked (e.g. a rate is missing)."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Balance:
    user_id: UUID
    currency: str
    paid: int
    owed: int

    @property
    def net(self) -> int:
        return self.paid - self.owed


@dataclass(frozen=True, slots=True)
class CurrencyTransfer:
    debtor: UUID
    creditor: UUID
    currency: str
    amount: int


@dataclass(frozen=True, slots=True)
class Adjustment:
    """A posting in the period that corrects a closed month (or books a late expense)."""

    expense_id: UUID
    adjusts_month: Month
    currency: str
    paid: Mapping[UUID, int]
    owed: Mapping[UUID, int]


@dataclass(frozen=True, slots=True)
class SplitOutcome:
    balances: tuple[Balance, ...]
    transfers: tuple[CurrencyTransfer, ...]
    converted: tuple[Balance, ...] | None
    adjustments: tuple[Adjustment, ...]
    revisions: Mapping[Month, int]

    def totals(self) -> dict[str, int]:
        """What was spent per currency (the converted currency alone when converted)."""
        totals: dict[str, int] = defaultdict(int)
        for balance in self.converted if self.converted is not None else self.balances:
            totals[balance.currency] += balance.owed
        return dict(sorted(totals.items()))


def compute_split(
    period: Period,
    postings: Iterable[tuple[UUID, Posting]],
    *,
    calendar: PeriodCalendar,
    conversion: Conversion | None = None,
    members: Collection[UUID] | None = None,
) -> SplitOutcome:
    """The split of ``period`` from the postings of the group's expenses.

    ``members`` (everyone who ever belonged to the group) guards against postings naming
    someone the group never knew: such a split fails with a typed reason instead of being
    settled with a stranger.
    """
    paid: dict[str, dict[UUID, int]] = defaultdict(lambda: defaultdict(int))
    owed: dict[str, dict[UUID, int]] = defaultdict(lambda: defaultdict(int))
    adjustments: list[Adjustment] = []
    for expense_id, posting in postings:
        if not period.contains(posting.month):
            continue
        for user, amount in posting.paid.items():
            paid[posting.currency][user] += amount
        for user, amount in posting.owed.items():
            owed[posting.currency][user] += amount
        if posting.kind is PostingKind.ADJUSTMENT and posting.adjusts_month is not None:
            adjustments.append(
                Adjustment(
                    expense_id=expense_id,
                    adjusts_month=posting.adjusts_month,
                    currency=posting.currency,
                    paid=dict(posting.paid),
                    owed=dict(posting.owed),
                )
            )
    balances = _balances(paid, owed)
    if members is not None:
        strangers = sorted({str(b.user_id) for b in balances} - {str(m) for m in members})
        if strangers:
            raise SplitImpossible(
                ErrorCode.NOT_A_MEMBER,
                f"the period books amounts for people the group does not know: {strangers}",
            )
    converted = _convert(balances, conversion) if conversion is not None else None
    plan_from = converted if converted is not None else balances
    return SplitOutcome(
        balances=balances,
        transfers=_transfers(plan_from),
        converted=converted,
        adjustments=tuple(sorted(adjustments, key=lambda a: (str(a.expense_id), a.currency))),
        revisions=calendar.revisions_of(period.months()),
    )


def _balances(
    paid: Mapping[str, Mapping[UUID, int]], owed: Mapping[str, Mapping[UUID, int]]
) -> tuple[Balance, ...]:
    out: list[Balance] = []
    for currency in sorted(set(paid) | set(owed)):
        users = set(paid.get(currency, {})) | set(owed.get(currency, {}))
        for user in sorted(users, key=str):
            balance = Balance(
                user_id=user,
                currency=currency,
                paid=paid.get(currency, {}).get(user, 0),
                owed=owed.get(currency, {}).get(user, 0),
            )
            if balance.paid or balance.owed:
                out.append(balance)
    return tuple(out)


def _convert(balances: tuple[Balance, ...], conversion: Conversion) -> tuple[Balance, ...]:
    """Each currency's columns converted with exact rounding, then summed per member."""
    paid: dict[UUID, int] = defaultdict(int)
    owed: dict[UUID, int] = defaultdict(int)
    for currency in sorted({b.currency for b in balances}):
        rows = [b for b in balances if b.currency == currency]
        factor = conversion.factor(currency)
        total = sum(b.owed for b in rows)
        target_total = round(total * factor)
        seed = f"convert:{currency}:{conversion.currency}"
        for column, out in (("paid", paid), ("owed", owed)):
            quotas = {b.user_id: getattr(b, column) * factor for b in rows}
            for user, amount in allocate_exact(quotas, target_total, seed=seed).items():
                out[user] += amount
    users = sorted(set(paid) | set(owed), key=str)
    return tuple(
        Balance(user, conversion.currency, paid.get(user, 0), owed.get(user, 0)) for user in users
    )


def _transfers(balances: Iterable[Balance]) -> tuple[CurrencyTransfer, ...]:
    nets: dict[str, dict[UUID, int]] = defaultdict(dict)
    for balance in balances:
        nets[balance.currency][balance.user_id] = balance.net
    return tuple(
        CurrencyTransfer(t.debtor, t.creditor, currency, t.amount)
        for currency in sorted(nets)
        for t in settle(nets[currency])
    )

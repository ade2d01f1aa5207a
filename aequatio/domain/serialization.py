"""Translation between domain values and the event fragments that carry them.

Events and the write model's JSON columns share these shapes, so a value is written one way
everywhere. Lists are ordered by member id so equal values always serialise identically.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from uuid import UUID

from aequatio.domain.calendar import Month
from aequatio.domain.ledger import Posting, PostingKind
from aequatio.domain.sharing import Payer, SplitMode, SplitRule
from aequatio.domain.splitting import Adjustment, Balance, Conversion, CurrencyTransfer
from aequatio.events.common import (
    AdjustmentData,
    CurrencyTotal,
    ExchangeRate,
    MemberAmount,
    MemberBalance,
    PostingData,
    SplitRuleData,
    TransferData,
)
from aequatio.events.splitting import ConversionData, MonthRevision


def amounts_data(amounts: Mapping[UUID, int]) -> list[MemberAmount]:
    return [
        MemberAmount(user_id=user, amount_cents=amount)
        for user, amount in sorted(amounts.items(), key=lambda kv: str(kv[0]))
    ]


def amounts_from(data: Iterable[MemberAmount]) -> dict[UUID, int]:
    return {entry.user_id: entry.amount_cents for entry in data}


def payers_data(payers: Sequence[Payer]) -> list[MemberAmount]:
    return [MemberAmount(user_id=p.user_id, amount_cents=p.amount) for p in payers]


def payers_from(data: Iterable[MemberAmount]) -> tuple[Payer, ...]:
    return tuple(Payer(entry.user_id, entry.amount_cents) for entry in data)


def rule_data(rule: SplitRule) -> SplitRuleData:
    return SplitRuleData(
        mode=rule.mode.value,
        participants=list(rule.participants) if rule.participants is not None else None,
        weights=(
            [MemberAmount(user_id=user, amount_cents=value) for user, value in rule.weights]
            if rule.weights is not None
            else None
        ),
    )


def rule_from(data: SplitRuleData) -> SplitRule:
    return SplitRule(
        mode=SplitMode(data.mode),
        participants=tuple(data.participants) if data.participants is not None else None,
        weights=(
            tuple((entry.user_id, entry.amount_cents) for entry in data.weights)
            if data.weights is not None
            else None
        ),
    )


def postings_data(postings: Iterable[Posting]) -> list[PostingData]:
    return [
        PostingData(
            month=posting.month.first_day,
            currency=posting.currency,
            paid=amounts_data(posting.paid),
            owed=amounts_data(posting.owed),
            kind=posting.kind.value,
            adjusts_month=posting.adjusts_month.first_day if posting.adjusts_month else None,
        )
        for posting in postings
    ]


def postings_from(data: Iterable[PostingData]) -> list[Posting]:
    return [
        Posting(
            month=Month.parse(entry.month),
            currency=entry.currency,
            paid=amounts_from(entry.paid),
            owed=amounts_from(entry.owed),
            kind=PostingKind(entry.kind),
            adjusts_month=Month.parse(entry.adjusts_month) if entry.adjusts_month else None,
        )
        for entry in data
    ]


def balances_data(balances: Iterable[Balance]) -> list[MemberBalance]:
    return [
        MemberBalance(
            user_id=b.user_id,
            currency=b.currency,
            paid_cents=b.paid,
            owed_cents=b.owed,
            net_cents=b.net,
        )
        for b in balances
    ]


def balances_from(data: Iterable[MemberBalance]) -> tuple[Balance, ...]:
    return tuple(Balance(b.user_id, b.currency, b.paid_cents, b.owed_cents) for b in data)


def transfers_data(transfers: Iterable[CurrencyTransfer]) -> list[TransferData]:
    return [
        TransferData(
            from_user_id=t.debtor, to_user_id=t.creditor, currency=t.currency, amount_cents=t.amount
        )
        for t in transfers
    ]


def transfers_from(data: Iterable[TransferData]) -> tuple[CurrencyTransfer, ...]:
    return tuple(
        CurrencyTransfer(t.from_user_id, t.to_user_id, t.currency, t.amount_cents) for t in data
    )


def adjustments_data(adjustments: Iterable[Adjustment]) -> list[AdjustmentData]:
    return [
        AdjustmentData(
            expense_id=a.expense_id,
            adjusts_month=a.adjusts_month.first_day,
            currency=a.currency,
            paid=amounts_data(a.paid),
            owed=amounts_data(a.owed),
        )
        for a in adjustments
    ]


def adjustments_from(data: Iterable[AdjustmentData]) -> tuple[Adjustment, ...]:
    return tuple(
        Adjustment(
            expense_id=a.expense_id,
            adjusts_month=Month.parse(a.adjusts_month),
            currency=a.currency,
            paid=amounts_from(a.paid),
            owed=amounts_from(a.owed),
        )
        for a in data
    )


def conversion_data(conversion: Conversion) -> ConversionData:
    return ConversionData(
        currency=conversion.currency,
        rates=[
            ExchangeRate(currency=code, rate=str(rate))
            for code, rate in sorted(conversion.rates.items())
        ],
    )


def conversion_from(data: ConversionData) -> Conversion:
    return Conversion(
        currency=data.currency, rates={rate.currency: Decimal(rate.rate) for rate in data.rates}
    )


def revisions_data(revisions: Mapping[Month, int]) -> list[MonthRevision]:
    return [
        MonthRevision(month=month.first_day, revision=revision)
        for month, revision in sorted(revisions.items())
    ]


def revisions_from(data: Iterable[MonthRevision]) -> dict[Month, int]:
    return {Month.parse(entry.month): entry.revision for entry in data}


def totals_data(totals: Mapping[str, int]) -> list[CurrencyTotal]:
    return [CurrencyTotal(currency=c, amount_cents=a) for c, a in sorted(totals.items())]

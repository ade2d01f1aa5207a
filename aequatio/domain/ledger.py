"""Postings: what an expense contributes to each month's ledger, and how changes rebook them.

An expense's postings always add up to its current effect (or to nothing once deleted).
Postings in a month closed by an invoice are frozen: a later change leaves them alone, books
their reversal into the first open month after them, and books the new effect into the first
open month from the expense's own month. Both land as ``adjustment`` postings that name the
closed month they correct, so the next split and invoice show them as such.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from uuid import UUID

from aequatio.domain.calendar import Month, PeriodCalendar


class PostingKind(StrEnum):
    EXPENSE = "expense"
    ADJUSTMENT = "adjustment"


@dataclass(frozen=True, slots=True)
class Posting:
    """Paid and owed amounts per member in one month and currency (zero entries omitted)."""

    month: Month
    currency: str
    paid: Mapping[UUID, int] = field(default_factory=dict)
    owed: Mapping[UUID, int] = field(default_factory=dict)
    kind: PostingKind = PostingKind.EXPENSE
    adjusts_month: Month | None = None

    @property
    def is_empty(self) -> bool:
        return not any(self.paid.values()) and not any(self.owed.values())

    def negated(self) -> Posting:
        return Posting(
            month=self.month,
            currency=self.currency,
            paid={user: -amount for user, amount in self.paid.items()},
            owed={user: -amount for user, amount in self.owed.items()},
            kind=self.kind,
            adjusts_month=self.adjusts_month,
        )


@dataclass(frozen=True, slots=True)
class Contribution:
    """An expense's economic effect: who paid and who owes, in its currency."""

    currency: str
    paid: Mapping[UUID, int]
    owed: Mapping[UUID, int]


def rebook(
    postings: Iterable[Posting],
    target: Contribution | None,
    natural_month: Month,
    calendar: PeriodCalendar,
) -> list[Posting]:
    """New postings whose sum is ``target`` (nothing if ``None``), keeping closed ones intact."""
    frozen = [posting for posting in postings if calendar.is_closed(posting.month)]
    parts: list[Posting] = list(frozen)
    if frozen:
        earliest_closed = min(posting.month for posting in frozen)
        reversal_month = calendar.first_open_from(max(p.month for p in frozen).next())
        for posting in frozen:
            parts.append(
                replace(
                    posting.negated(),
                    month=reversal_month,
                    kind=PostingKind.ADJUSTMENT,
                    adjusts_month=earliest_closed,
                )
            )
    if target is not None:
        booking_month = calendar.first_open_from(natural_month)
        is_late = booking_month != natural_month
        parts.append(
            Posting(
                month=booking_month,
                currency=target.currency,
                paid=dict(target.paid),
                owed=dict(target.owed),
                kind=PostingKind.ADJUSTMENT if is_late else PostingKind.EXPENSE,
                adjusts_month=natural_month if is_late else None,
            )
        )
    return _merge(parts, frozen)


def _merge(parts: list[Posting], frozen: list[Posting]) -> list[Posting]:
    """Sum parts that share a month and currency; frozen postings stay exactly as they were."""
    merged: dict[tuple[Month, str], list[Posting]] = defaultdict(list)
    for part in parts[len(frozen) :]:
        merged[(part.month, part.currency)].append(part)
    out = list(frozen)
    for (month, currency), group in sorted(
        merged.items(), key=lambda item: (item[0][0], item[0][1])
    ):
        adjustments = [p for p in group if p.kind is PostingKind.ADJUSTMENT]
        combined = Posting(
            month=month,
            currency=currency,
            paid=_sum_maps(p.paid for p in group),
            owed=_sum_maps(p.owed for p in group),
            kind=PostingKind.ADJUSTMENT if adjustments else PostingKind.EXPENSE,
            adjusts_month=min(
                (p.adjusts_month for p in adjustments if p.adjusts_month is not None), default=None
            ),
        )
        if not combined.is_empty:
            out.append(combined)
    return out


def _sum_maps(maps: Iterable[Mapping[UUID, int]]) -> dict[UUID, int]:
    total: dict[UUID, int] = defaultdict(int)
    for amounts in maps:
        for user, amount in amounts.items():
            total[user] += amount
    return {
        user: amount for user, amount in sorted(total.items(), key=lambda kv: str(kv[0])) if amount
    }


def months_touched(before: Iterable[Posting], after: Iterable[Posting]) -> set[Month]:
    """Months whose ledger differs between two posting lists (their revisions must move)."""
    old, new = list(before), list(after)
    return {p.month for p in old if p not in new} | {p.month for p in new if p not in old}


def total_effect(postings: Iterable[Posting]) -> dict[str, tuple[dict[UUID, int], dict[UUID, int]]]:
    """Sum of postings per currency as ``(paid, owed)``; used to check rebooking invariants."""
    per_currency: dict[str, list[Posting]] = defaultdict(list)
    for posting in postings:
        per_currency[posting.currency].append(posting)
    return {
        currency: (_sum_maps(p.paid for p in group), _sum_maps(p.owed for p in group))
        for currency, group in per_currency.items()
        if _sum_maps(p.paid for p in group) or _sum_maps(p.owed for p in group)
    }

"""Split rules and payers: who paid an expense and how it is shared, as exact integers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from uuid import UUID

from aequatio.domain.allocation import allocate
from aequatio.domain.errors import ErrorCode, InvalidInput, field_path
from aequatio.domain.group import Group
from aequatio.domain.money import require_amount

MAX_SHARE_WEIGHT = 1_000_000
PERCENT_TOTAL = 10_000


class SplitMode(StrEnum):
    EQUAL = "EQUAL"
    SHARES = "SHARES"
    EXACT = "EXACT"
    PERCENT = "PERCENT"


@dataclass(frozen=True, slots=True)
class SplitRule:
    """How an expense splits among members.

    ``EQUAL`` uses ``participants`` (``None``: the members on the expense's date). ``SHARES``
    uses integer ``weights`` (``None``: members on the date with their default weights),
    ``EXACT`` minor units summing to the amount, ``PERCENT`` basis points summing to 10000.
    """

    mode: SplitMode
    participants: tuple[UUID, ...] | None = None
    weights: tuple[tuple[UUID, int], ...] | None = None


@dataclass(frozen=True, slots=True)
class Payer:
    user_id: UUID
    amount: int


def compute_shares(
    rule: SplitRule, amount: int, group: Group, day: date, *, seed: str
) -> dict[UUID, int]:
    """Per-member owed amounts: exact integers, never negative, summing to ``amount``."""
    if rule.mode is SplitMode.EQUAL:
        return _equal_shares(rule, amount, group, day, seed=seed)
    if rule.participants is not None:
        raise InvalidInput(
            ErrorCode.SPLIT_RULE_INVALID,
            f"{rule.mode} takes weights, not participants",
            field="split",
        )
    values = _weights(rule, group, day)
    total = sum(values.values())
    if rule.mode is SplitMode.EXACT:
        if total != amount:
            raise InvalidInput(
                ErrorCode.EXACT_AMOUNTS_MISMATCH,
                f"the exact amounts add up to {total}, not {amount}",
                field="split.weights",
            )
        return _without_zeros(values)
    if rule.mode is SplitMode.PERCENT and total != PERCENT_TOTAL:
        raise InvalidInput(
            ErrorCode.PERCENT_NOT_10000,
            f"percentages are basis points adding up to {PERCENT_TOTAL}, not {total}",
            field="split.weights",
        )
    if rule.mode is SplitMode.SHARES and (
        total <= 0 or any(value > MAX_SHARE_WEIGHT for value in values.values())
    ):
        raise InvalidInput(
            ErrorCode.WEIGHT_INVALID,
            f"shares are at most {MAX_SHARE_WEIGHT} each and not all zero",
            field="split.weights",
        )
    return _without_zeros(allocate(amount, values, seed=seed))


def _equal_shares(
    rule: SplitRule, amount: int, group: Group, day: date, *, seed: str
) -> dict[UUID, int]:
    if rule.weights is not None:
        raise InvalidInput(
            ErrorCode.SPLIT_RULE_INVALID, "EQUAL takes participants, not weights", field="split"
        )
    participants = (
        rule.participants
        if rule.participants is not None
        else tuple(m.user_id for m in group.members_on(day))
    )
    users = _members(participants, group, day, "split.participants")
    if not users:
        raise InvalidInput(
            ErrorCode.PARTICIPANTS_EMPTY,
            "nobody to split this expense with",
            field="split.participants",
        )
    return _without_zeros(allocate(amount, dict.fromkeys(users, 1), seed=seed))


def _weights(rule: SplitRule, group: Group, day: date) -> dict[UUID, int]:
    """The rule's per-member values, checked; SHARES without weights uses default weights."""
    if rule.weights is None:
        if rule.mode is not SplitMode.SHARES:
            raise InvalidInput(
                ErrorCode.SPLIT_RULE_INVALID,
                f"{rule.mode} needs a value per member",
                field="split.weights",
            )
        entries = tuple((m.user_id, m.weight) for m in group.members_on(day))
    else:
        entries = rule.weights
    if not entries:
        raise InvalidInput(
            ErrorCode.PARTICIPANTS_EMPTY,
            "nobody to split this expense with",
            field="split.weights",
        )
    users = _members([user for user, _ in entries], group, day, "split.weights", suffix="user_id")
    for index, (_, value) in enumerate(entries):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInput(
                ErrorCode.WEIGHT_INVALID,
                "weights and amounts are whole numbers, zero or more",
                field=field_path("split", "weights", index, "value"),
            )
    return dict(zip(users, (value for _, value in entries), strict=True))


def _members(
    users: Sequence[UUID], group: Group, day: date, field: str, *, suffix: str | None = None
) -> list[UUID]:
    seen: set[UUID] = set()
    for index, user in enumerate(users):
        path = field_path(field, index, suffix) if suffix else field_path(field, index)
        if user in seen:
            raise InvalidInput(ErrorCode.DUPLICATE_PARTICIPANT, "listed twice", field=path)
        group.require_member_on(user, day, field=path)
        seen.add(user)
    return list(users)


def _without_zeros(shares: dict[UUID, int]) -> dict[UUID, int]:
    return {user: share for user, share in shares.items() if share}


def resolve_payers(
    payers: Sequence[Payer] | None, amount: int, group: Group, day: date, *, default: UUID
) -> tuple[Payer, ...]:
    """The payers, checked: members on the date, positive amounts summing to ``amount``."""
    if not payers:
        group.require_member_on(default, day, field="payers")
        return (Payer(default, amount),)
    _members([payer.user_id for payer in payers], group, day, "payers", suffix="user_id")
    for index, payer in enumerate(payers):
        require_amount(payer.amount, field=field_path("payers", index, "amount_cents"))
    paid = sum(payer.amount for payer in payers)
    if paid != amount:
        raise InvalidInput(
            ErrorCode.PAYER_AMOUNTS_MISMATCH,
            f"the payers paid {paid} in all, not {amount}",
            field="payers",
        )
    return tuple(payers)

"""Settle-up: the transfers that bring every member's net balance to zero.

For up to ``EXACT_LIMIT`` members with a non-zero balance the plan uses the exact minimum
number of transfers: ``n - k`` where ``k`` is the largest number of disjoint zero-sum groups
the balances can be partitioned into (each group of size ``s`` settles in ``s - 1`` transfers).
``k`` comes from a dynamic programme over subsets in O(2^n * n). Above the limit a greedy
plan (largest debtor pays largest creditor) needs at most ``n - 1`` transfers.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

EXACT_LIMIT = 15


@dataclass(frozen=True, slots=True)
class Transfer(Generic[K]):
    """``debtor`` pays ``amount`` (> 0, minor units) to ``creditor``."""

    debtor: K
    creditor: K
    amount: int


def settle(nets: Mapping[K, int]) -> list[Transfer[K]]:
    """A settle-up plan for balances summing to zero (positive: is owed money)."""
    if sum(nets.values()) != 0:
        raise ValueError("net balances must sum to zero")
    balances = sorted(
        ((key, net) for key, net in nets.items() if net != 0), key=lambda kv: str(kv[0])
    )
    if len(balances) <= EXACT_LIMIT:
        groups = _zero_sum_groups([net for _, net in balances])
        plan: list[Transfer[K]] = []
        for group in groups:
            plan.extend(_greedy([balances[index] for index in group]))
        return plan
    return _greedy(balances)


def _greedy(balances: Sequence[tuple[K, int]]) -> list[Transfer[K]]:
    """Largest debtor pays largest creditor; each step zeroes at least one balance."""
    order = {key: str(key) for key, _ in balances}
    credit = {key: net for key, net in balances if net > 0}
    debt = {key: -net for key, net in balances if net < 0}
    transfers: list[Transfer[K]] = []
    while credit and debt:
        creditor = min(credit, key=lambda key: (-credit[key], order[key]))
        debtor = min(debt, key=lambda key: (-debt[key], order[key]))
        amount = min(credit[creditor], debt[debtor])
        transfers.append(Transfer(debtor=debtor, creditor=creditor, amount=amount))
        for side, key in ((credit, creditor), (debt, debtor)):
            side[key] -= amount
            if side[key] == 0:
                del side[key]
    return transfers


def _zero_sum_groups(nets: Sequence[int]) -> list[list[int]]:
    """Partition indices of ``nets`` into the most zero-sum groups possible.

    ``best[mask]`` is the most zero-sum groups that a prefix order of ``mask``'s members can be
    cut into; removing any one member of ``mask`` and adding one when ``mask`` itself sums to
    zero gives the recurrence. Walking back from the full mask recovers the groups.
    """
    size = len(nets)
    if size == 0:
        return []
    full = (1 << size) - 1
    sums = [0] * (full + 1)
    best = [0] * (full + 1)
    for mask in range(1, full + 1):
        low = mask & -mask
        sums[mask] = sums[mask ^ low] + nets[low.bit_length() - 1]
        top = 0
        rest = mask
        while rest:
            bit = rest & -rest
            candidate = best[mask ^ bit]
            top = max(top, candidate)
            rest ^= bit
        best[mask] = top + (1 if sums[mask] == 0 else 0)
    return _recover_groups(full, sums, best)


def _recover_groups(full: int, sums: list[int], best: list[int]) -> list[list[int]]:
    """Peel members off the full set, cutting a group each time a zero-sum prefix closes."""
    groups: list[list[int]] = []
    current: list[int] = []
    mask = full
    while mask:
        closes_group = 1 if sums[mask] == 0 else 0
        rest = mask
        while rest:
            bit = rest & -rest
            if best[mask ^ bit] + closes_group == best[mask]:
                break
            rest ^= bit
        if sums[mask] == 0 and current:
            groups.append(current)
            current = []
        current.append(bit.bit_length() - 1)
        mask ^= bit
    if current:
        groups.append(current)
    return groups

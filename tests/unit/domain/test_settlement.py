"""Settle-up plans: they zero every balance, with the fewest transfers for small groups."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from uuid import UUID

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from aequatio.domain.settlement import EXACT_LIMIT, Transfer, settle

MEMBERS = [UUID(int=i) for i in range(1, 41)]


@st.composite
def balanced_nets(draw: st.DrawFn, min_size: int, max_size: int, spread: int) -> dict[UUID, int]:
    """Net balances of ``min_size..max_size`` members that sum to zero (zeros allowed)."""
    size = draw(st.integers(min_value=min_size, max_value=max_size))
    if size == 0:
        return {}
    values = draw(st.lists(st.integers(-spread, spread), min_size=size - 1, max_size=size - 1))
    return dict(zip(MEMBERS[:size], [*values, -sum(values)], strict=True))


@st.composite
def nets_of_hidden_blocks(draw: st.DrawFn, max_size: int) -> dict[UUID, int]:
    """Several zero-sum blocks shuffled together: where a plain greedy plan falls short."""
    values: list[int] = []
    while len(values) + 2 <= max_size and (len(values) < 4 or draw(st.booleans())):
        room = min(4, max_size - len(values))
        block = draw(st.lists(st.integers(-50, 50), min_size=1, max_size=room - 1))
        values.extend([*block, -sum(block)])
    order = draw(st.permutations(range(len(values))))
    return {MEMBERS[index]: values[position] for index, position in enumerate(order)}


def small_nets(max_size: int) -> st.SearchStrategy[dict[UUID, int]]:
    """Small spreads and hidden blocks make zero-sum subgroups (the interesting case) common."""
    return (
        balanced_nets(0, max_size, 6)
        | balanced_nets(0, max_size, 10_000)
        | nets_of_hidden_blocks(max_size)
    )


@st.composite
def large_nets(draw: st.DrawFn) -> dict[UUID, int]:
    """16 to 40 members, every one of them with a non-zero balance."""
    size = draw(st.integers(min_value=EXACT_LIMIT + 1, max_value=40))
    magnitudes = draw(st.lists(st.integers(1, 10**9), min_size=size - 1, max_size=size - 1))
    signs = draw(st.lists(st.sampled_from([1, -1]), min_size=size - 1, max_size=size - 1))
    values = [sign * magnitude for sign, magnitude in zip(signs, magnitudes, strict=True)]
    last = -sum(values)
    if last == 0:  # keep every balance non-zero: move one unit between two members
        values[0] += 1 if values[0] != -1 else -1
        last = -sum(values)
    return dict(zip(MEMBERS[:size], [*values, last], strict=True))


def after(nets: dict[UUID, int], plan: Sequence[Transfer[UUID]]) -> dict[UUID, int]:
    """Balances once every transfer is paid (a debtor's balance rises as they pay)."""
    out = dict(nets)
    for transfer in plan:
        out[transfer.debtor] += transfer.amount
        out[transfer.creditor] -= transfer.amount
    return out


def set_partitions(items: list[int]) -> Iterator[list[list[int]]]:
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for partition in set_partitions(rest):
        yield [[first], *partition]
        for index in range(len(partition)):
            yield [*partition[:index], [first, *partition[index]], *partition[index + 1 :]]


def brute_force_minimum(nets: dict[UUID, int]) -> int:
    """Fewest transfers: each zero-sum block of size s settles in s - 1, and no fewer."""
    values = [net for net in nets.values() if net != 0]
    most_blocks = max(
        len(partition)
        for partition in set_partitions(values)
        if all(sum(block) == 0 for block in partition)
    )
    return len(values) - most_blocks


# --- the brute force itself --------------------------------------------------------------------


def test_the_set_partition_enumeration_yields_bell_numbers() -> None:
    assert [sum(1 for _ in set_partitions(list(range(n)))) for n in range(7)] == [
        1,
        1,
        2,
        5,
        15,
        52,
        203,
    ]


# --- contract ----------------------------------------------------------------------------------


@settings(max_examples=100)
@given(small_nets(8), st.integers(min_value=1, max_value=10**6) | st.integers(max_value=-1))
def test_balances_that_do_not_sum_to_zero_are_refused(nets: dict[UUID, int], skew: int) -> None:
    nets[MEMBERS[0]] = nets.get(MEMBERS[0], 0) + skew

    with pytest.raises(ValueError, match="sum to zero"):
        settle(nets)


def test_nobody_owing_anything_needs_no_transfers() -> None:
    assert settle({MEMBERS[0]: 0, MEMBERS[1]: 0}) == []
    assert settle({}) == []


def test_one_debtor_pays_one_creditor() -> None:
    assert settle({MEMBERS[0]: 500, MEMBERS[1]: -500}) == [
        Transfer(debtor=MEMBERS[1], creditor=MEMBERS[0], amount=500)
    ]


# --- small groups: the exact plan --------------------------------------------------------------


@settings(max_examples=100)
@given(small_nets(EXACT_LIMIT))
def test_paying_the_plan_zeroes_every_balance(nets: dict[UUID, int]) -> None:
    assert set(after(nets, settle(nets)).values()) <= {0}


@settings(max_examples=100)
@given(small_nets(EXACT_LIMIT))
def test_every_transfer_moves_a_positive_amount(nets: dict[UUID, int]) -> None:
    assert all(transfer.amount > 0 for transfer in settle(nets))


@settings(max_examples=100)
@given(small_nets(EXACT_LIMIT))
def test_nobody_pays_themselves(nets: dict[UUID, int]) -> None:
    assert all(transfer.debtor != transfer.creditor for transfer in settle(nets))


@settings(max_examples=100)
@given(small_nets(EXACT_LIMIT))
def test_only_debtors_pay_and_only_creditors_are_paid(nets: dict[UUID, int]) -> None:
    for transfer in settle(nets):
        assert nets[transfer.debtor] < 0 < nets[transfer.creditor]


@settings(max_examples=100)
@given(nets_of_hidden_blocks(7) | small_nets(7))
@example(dict(zip(MEMBERS, [6, 5, -5, -4, -2], strict=False)))
@example(dict(zip(MEMBERS, [4, 3, -3, -2, -2], strict=False)))
def test_small_groups_settle_in_the_brute_force_minimum_of_transfers(
    nets: dict[UUID, int],
) -> None:
    assert len(settle(nets)) == brute_force_minimum(nets)


def test_two_independent_pairs_settle_in_two_transfers_not_three() -> None:
    nets = {MEMBERS[0]: 7, MEMBERS[1]: -7, MEMBERS[2]: 3, MEMBERS[3]: -3}

    assert len(settle(nets)) == 2


def test_the_greedy_trap_settles_in_the_minimum() -> None:
    # {6, -4, -2} and {5, -5} are zero-sum: 2 + 1 = 3 transfers instead of greedy's 4.
    nets = {MEMBERS[0]: 6, MEMBERS[1]: 5, MEMBERS[2]: -5, MEMBERS[3]: -4, MEMBERS[4]: -2}

    assert len(settle(nets)) == 3


def test_fifteen_non_zero_members_are_settled_exactly() -> None:
    # Five triples (a, 2a, -3a) at scales 1, 10, ..., 10^4: only the triples sum to zero.
    nets: dict[UUID, int] = {}
    for scale in range(5):
        for offset, factor in enumerate((1, 2, -3)):
            nets[MEMBERS[3 * scale + offset]] = factor * 10**scale

    plan = settle(nets)

    assert (len(plan), set(after(nets, plan).values())) == (10, {0})


# --- determinism -------------------------------------------------------------------------------


@settings(max_examples=100)
@given(small_nets(EXACT_LIMIT) | large_nets(), st.randoms(use_true_random=False))
def test_the_plan_does_not_depend_on_the_order_members_are_listed(
    nets: dict[UUID, int], rng: random.Random
) -> None:
    items = list(nets.items())
    rng.shuffle(items)

    assert settle(dict(items)) == settle(nets)


@settings(max_examples=100)
@given(small_nets(EXACT_LIMIT) | large_nets())
def test_settling_twice_gives_the_same_plan(nets: dict[UUID, int]) -> None:
    assert settle(nets) == settle(dict(nets))


# --- large groups: greedy ----------------------------------------------------------------------


@settings(max_examples=100)
@given(large_nets())
def test_large_groups_are_settled_completely(nets: dict[UUID, int]) -> None:
    plan = settle(nets)

    assert set(after(nets, plan).values()) == {0}
    assert all(t.amount > 0 and t.debtor != t.creditor for t in plan)


@settings(max_examples=100)
@given(large_nets())
def test_large_groups_need_at_most_one_transfer_fewer_than_members(
    nets: dict[UUID, int],
) -> None:
    assert len(settle(nets)) <= len(nets) - 1


@settings(max_examples=100)
@given(large_nets(), st.integers(min_value=1, max_value=20))
def test_members_with_a_zero_balance_are_left_out_of_the_plan(
    nets: dict[UUID, int], idle: int
) -> None:
    with_idle = {**nets, **{UUID(int=1000 + i): 0 for i in range(idle)}}

    involved = {t.debtor for t in settle(with_idle)} | {t.creditor for t in settle(with_idle)}

    assert involved <= set(nets)

"""Largest-remainder allocation: exact, never negative, fair over time and deterministic."""

from __future__ import annotations

import math
import random
from collections import Counter
from fractions import Fraction
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aequatio.domain.allocation import allocate, allocate_exact

MEMBERS = [UUID(int=i) for i in range(1, 13)]

members = st.sampled_from(MEMBERS)
weights_maps = st.dictionaries(
    members, st.integers(min_value=0, max_value=1_000), min_size=1, max_size=len(MEMBERS)
).filter(lambda weights: sum(weights.values()) > 0)
totals = st.integers(min_value=0, max_value=10**12)
seeds = st.text(max_size=20)
fractions = st.builds(
    Fraction,
    st.integers(min_value=-(10**9), max_value=10**9),
    st.integers(min_value=1, max_value=1_000),
)


def exact_quota(total: int, weights: dict[UUID, int], member: UUID) -> Fraction:
    return Fraction(total * weights[member], sum(weights.values()))


@st.composite
def quotas_with_integer_sum(draw: st.DrawFn) -> tuple[dict[UUID, Fraction], int]:
    """Rational quotas (some negative) that add up to a whole number, and that number."""
    keys = draw(st.lists(members, min_size=1, max_size=len(MEMBERS), unique=True))
    target = draw(st.integers(min_value=-(10**9), max_value=10**9))
    quotas = {key: draw(fractions) for key in keys[:-1]}
    quotas[keys[-1]] = target - sum(quotas.values(), Fraction(0))
    return quotas, target


@st.composite
def quotas_with_reachable_target(draw: st.DrawFn) -> tuple[dict[UUID, Fraction], int]:
    """Arbitrary rational quotas and any target reachable by rounding each up or down."""
    quotas = draw(st.dictionaries(members, fractions, min_size=1, max_size=len(MEMBERS)))
    floors = sum(math.floor(quota) for quota in quotas.values())
    fractional = sum(1 for quota in quotas.values() if quota.denominator != 1)
    return quotas, draw(st.integers(min_value=floors, max_value=floors + fractional))


# --- allocate ----------------------------------------------------------------------------------


@settings(max_examples=200)
@given(totals, weights_maps, seeds)
def test_shares_add_up_to_the_total(total: int, weights: dict[UUID, int], seed: str) -> None:
    assert sum(allocate(total, weights, seed=seed).values()) == total


@settings(max_examples=200)
@given(totals, weights_maps, seeds)
def test_no_share_is_negative(total: int, weights: dict[UUID, int], seed: str) -> None:
    assert min(allocate(total, weights, seed=seed).values()) >= 0


@settings(max_examples=200)
@given(totals, weights_maps, seeds)
def test_each_share_is_its_quota_rounded_down_or_up(
    total: int, weights: dict[UUID, int], seed: str
) -> None:
    shares = allocate(total, weights, seed=seed)

    for member, share in shares.items():
        quota = exact_quota(total, weights, member)
        assert share in {math.floor(quota), math.ceil(quota)}


@settings(max_examples=200)
@given(totals, weights_maps, seeds)
def test_every_weighted_member_and_nobody_else_gets_a_share(
    total: int, weights: dict[UUID, int], seed: str
) -> None:
    assert allocate(total, weights, seed=seed).keys() == weights.keys()


@settings(max_examples=200)
@given(totals, weights_maps, seeds)
def test_members_with_zero_weight_get_nothing(
    total: int, weights: dict[UUID, int], seed: str
) -> None:
    shares = allocate(total, weights, seed=seed)

    assert all(shares[member] == 0 for member, weight in weights.items() if weight == 0)


@settings(max_examples=200)
@given(totals, weights_maps, seeds)
def test_a_heavier_weight_never_gets_a_smaller_share(
    total: int, weights: dict[UUID, int], seed: str
) -> None:
    shares = allocate(total, weights, seed=seed)

    for a, weight_a in weights.items():
        for b, weight_b in weights.items():
            if weight_a > weight_b:
                assert shares[a] >= shares[b]


@settings(max_examples=200)
@given(totals, st.lists(members, min_size=1, unique=True), seeds)
def test_equal_weights_give_shares_at_most_one_unit_apart(
    total: int, people: list[UUID], seed: str
) -> None:
    shares = allocate(total, dict.fromkeys(people, 1), seed=seed)

    assert max(shares.values()) - min(shares.values()) <= 1


@settings(max_examples=200)
@given(totals, weights_maps, seeds)
def test_the_same_inputs_always_give_the_same_shares(
    total: int, weights: dict[UUID, int], seed: str
) -> None:
    assert allocate(total, weights, seed=seed) == allocate(total, dict(weights), seed=seed)


@settings(max_examples=200)
@given(totals, weights_maps, seeds, st.randoms(use_true_random=False))
def test_shares_do_not_depend_on_the_order_members_are_listed(
    total: int, weights: dict[UUID, int], seed: str, rng: random.Random
) -> None:
    items = list(weights.items())
    rng.shuffle(items)

    assert allocate(total, dict(items), seed=seed) == allocate(total, weights, seed=seed)


@pytest.mark.parametrize("size", [2, 3, 4, 5, 7])
def test_over_many_expenses_the_odd_unit_lands_on_every_member(size: int) -> None:
    people = MEMBERS[:size]
    lucky: Counter[UUID] = Counter()

    for expense in range(60 * size):
        shares = allocate(10 * size + 1, dict.fromkeys(people, 1), seed=f"expense-{expense}")
        (winner,) = [member for member, share in shares.items() if share == 11]
        lucky[winner] += 1

    assert set(lucky) == set(people)


def test_the_largest_remainder_wins_the_leftover_unit() -> None:
    # 10 over weights 3:2:1 gives quotas 5, 3.33 and 1.67: the one leftover unit goes to 1.67
    shares = allocate(10, {MEMBERS[0]: 3, MEMBERS[1]: 2, MEMBERS[2]: 1}, seed="any")

    assert shares == {MEMBERS[0]: 5, MEMBERS[1]: 3, MEMBERS[2]: 2}


def test_allocating_nothing_gives_everyone_zero() -> None:
    assert allocate(0, {MEMBERS[0]: 1, MEMBERS[1]: 5}, seed="s") == {MEMBERS[0]: 0, MEMBERS[1]: 0}


def test_a_negative_total_cannot_be_allocated() -> None:
    with pytest.raises(ValueError, match="negative total"):
        allocate(-1, {MEMBERS[0]: 1}, seed="s")


def test_negative_weights_are_refused() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        allocate(10, {MEMBERS[0]: 2, MEMBERS[1]: -1}, seed="s")


@pytest.mark.parametrize("weights", [{}, {MEMBERS[0]: 0, MEMBERS[1]: 0}])
def test_weights_summing_to_zero_are_refused(weights: dict[UUID, int]) -> None:
    with pytest.raises(ValueError, match="more than zero"):
        allocate(10, weights, seed="s")


# --- allocate_exact ----------------------------------------------------------------------------


@settings(max_examples=200)
@given(quotas_with_integer_sum(), seeds)
def test_quotas_summing_to_a_whole_number_are_rounded_to_that_number(
    case: tuple[dict[UUID, Fraction], int], seed: str
) -> None:
    quotas, target = case

    assert sum(allocate_exact(quotas, target, seed=seed).values()) == target


@settings(max_examples=200)
@given(quotas_with_reachable_target(), seeds)
def test_exact_allocation_reaches_any_reachable_target_by_rounding_each_quota(
    case: tuple[dict[UUID, Fraction], int], seed: str
) -> None:
    quotas, target = case

    shares = allocate_exact(quotas, target, seed=seed)

    assert sum(shares.values()) == target
    for member, share in shares.items():
        assert share in {math.floor(quotas[member]), math.ceil(quotas[member])}


@settings(max_examples=200)
@given(st.dictionaries(members, st.integers(-(10**9), 10**9), min_size=1), seeds)
def test_whole_quotas_are_kept_as_they_are(quotas: dict[UUID, int], seed: str) -> None:
    exact = {member: Fraction(quota) for member, quota in quotas.items()}

    assert allocate_exact(exact, sum(quotas.values()), seed=seed) == quotas


@settings(max_examples=200)
@given(quotas_with_reachable_target(), st.integers(min_value=1, max_value=10), seeds)
def test_a_target_no_rounding_can_reach_is_refused(
    case: tuple[dict[UUID, Fraction], int], overshoot: int, seed: str
) -> None:
    quotas, _ = case
    floors = sum(math.floor(quota) for quota in quotas.values())
    ceilings = sum(math.ceil(quota) for quota in quotas.values())

    for target in (floors - overshoot, ceilings + overshoot):
        with pytest.raises(ValueError, match="not reachable"):
            allocate_exact(quotas, target, seed=seed)


def test_negative_balances_round_to_their_floor_or_ceiling() -> None:
    quotas = {MEMBERS[0]: Fraction(-3, 2), MEMBERS[1]: Fraction(-1, 2), MEMBERS[2]: Fraction(2)}

    shares = allocate_exact(quotas, 0, seed="convert:EUR:JPY")

    assert shares in (
        {MEMBERS[0]: -1, MEMBERS[1]: -1, MEMBERS[2]: 2},
        {MEMBERS[0]: -2, MEMBERS[1]: 0, MEMBERS[2]: 2},
    )


@settings(max_examples=200)
@given(quotas_with_integer_sum(), seeds, st.randoms(use_true_random=False))
def test_exact_allocation_is_deterministic_whatever_the_key_order(
    case: tuple[dict[UUID, Fraction], int], seed: str, rng: random.Random
) -> None:
    quotas, target = case
    items = list(quotas.items())
    rng.shuffle(items)

    assert allocate_exact(dict(items), target, seed=seed) == allocate_exact(
        quotas, target, seed=seed
    )


def test_allocating_zero_to_nobody_is_empty() -> None:
    assert allocate_exact({}, 0, seed="s") == {}


def test_allocating_something_to_nobody_is_refused() -> None:
    with pytest.raises(ValueError, match="nobody"):
        allocate_exact({}, 1, seed="s")


def test_exact_quotas_with_equal_remainders_share_the_leftover_by_seed() -> None:
    quotas = {member: Fraction(1, 2) for member in MEMBERS[:2]}
    receivers: set[UUID] = set()

    for expense in range(40):
        shares = allocate_exact(quotas, 1, seed=f"convert-{expense}")
        receivers.add(next(member for member, share in shares.items() if share == 1))

    assert receivers == set(MEMBERS[:2])


@settings(max_examples=50)
@given(totals, weights_maps, seeds)
def test_allocate_is_allocate_exact_of_the_proportional_quotas(
    total: int, weights: dict[UUID, int], seed: str
) -> None:
    quotas = {member: exact_quota(total, weights, member) for member in weights}

    assert allocate(total, weights, seed=seed) == allocate_exact(quotas, total, seed=seed)


@given(totals, weights_maps, seeds)
def test_integer_allocation_rounds_exactly_as_the_rational_quotas_do(
    total: int, weights: dict[UUID, int], seed: str
) -> None:
    """``allocate`` works in integer floors and remainders; rounding the exact fractions
    (``allocate_exact``) must give every member the very same share."""
    exact = {member: exact_quota(total, weights, member) for member in weights}
    assert allocate(total, weights, seed=seed) == allocate_exact(exact, total, seed=seed)

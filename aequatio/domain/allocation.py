"""Exact integer allocation of an amount by weights (largest remainder method).

Every allocation sums to the total, gives no one a negative share, and is deterministic.
Leftover minor units go to the largest fractional remainders; among equal remainders the
order starts at a position derived from a seed (the expense id), so over many expenses the
odd cent lands on each member in turn instead of always on the same one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Mapping
from fractions import Fraction
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


def _rotation(seed: str, size: int) -> int:
    digest = hashlib.sha256(seed.encode()).digest()
    return int.from_bytes(digest[:8], "big") % size


def allocate(total: int, weights: Mapping[K, int], *, seed: str) -> dict[K, int]:
    """Split ``total`` (>= 0) over ``weights`` (>= 0, sum > 0) into exact integer shares."""
    if total < 0:
        raise ValueError("cannot allocate a negative total")
    if any(weight < 0 for weight in weights.values()):
        raise ValueError("weights must not be negative")
    weight_sum = sum(weights.values())
    if weight_sum <= 0:
        raise ValueError("weights must sum to more than zero")
    # Each quota is ``total * weight / weight_sum``: its floor and its remainder over the one
    # common denominator, in integers (the same order as the fractions, without ``Fraction``).
    parts = {key: divmod(total * weight, weight_sum) for key, weight in weights.items()}
    return _largest_remainder(
        {key: floor for key, (floor, _) in parts.items()},
        {key: remainder for key, (_, remainder) in parts.items()},
        total,
        seed=seed,
    )


def allocate_exact(quotas: Mapping[K, Fraction], target: int, *, seed: str) -> dict[K, int]:
    """Round rational ``quotas`` to integers summing to ``target``.

    ``target`` must equal the sum of the quotas rounded somehow; each share ends up either the
    floor or the ceiling of its quota. Used to convert balances between currencies without
    creating or losing a minor unit.
    """
    floors = {key: quota.numerator // quota.denominator for key, quota in quotas.items()}
    return _largest_remainder(
        floors, {key: quota - floors[key] for key, quota in quotas.items()}, target, seed=seed
    )


def _largest_remainder(
    floors: dict[K, int], remainders: Mapping[K, int | Fraction], target: int, *, seed: str
) -> dict[K, int]:
    """``floors`` raised by one, largest ``remainders`` first, until they sum to ``target``."""
    if not floors:
        if target != 0:
            raise ValueError("cannot allocate a non-zero total to nobody")
        return {}
    leftover = target - sum(floors.values())
    # Only a quota with a fractional part can be rounded up; a whole quota is its own ceiling.
    fractional = sum(1 for remainder in remainders.values() if remainder)
    if not 0 <= leftover <= fractional:
        raise ValueError("target is not reachable by rounding the quotas")
    # Stable key order (by text form) makes the rotation independent of input order.
    ordered = sorted(floors, key=str)
    start = _rotation(seed, len(ordered))
    rotated = ordered[start:] + ordered[:start]
    position = {key: index for index, key in enumerate(rotated)}
    by_remainder = sorted(rotated, key=lambda key: (-remainders[key], position[key]))
    shares = dict(floors)
    for key in by_remainder[:leftover]:
        shares[key] += 1
    return shares

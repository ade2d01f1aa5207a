"""How hard the fault suite pushes: a short run in ``make test``, the long one in ``make soak``.

``AEQUATIO_SOAK=1`` selects the long counts. ``AEQUATIO_FAULT_SEED`` replays a failed run: every
random choice of a scenario comes from one generator seeded with it (the seed of a failed test is
printed in its report).
"""

from __future__ import annotations

import os
import random

SOAK = os.environ.get("AEQUATIO_SOAK", "").strip() not in ("", "0")
SEED_VARIABLE = "AEQUATIO_FAULT_SEED"


def scaled(short: int, long: int) -> int:
    """``long`` in a soak run, ``short`` otherwise."""
    return long if SOAK else short


def scaled_seconds(short: float, long: float) -> float:
    return long if SOAK else short


def seed() -> int:
    """The seed of this run: ``AEQUATIO_FAULT_SEED`` when given, a fresh one otherwise."""
    given = os.environ.get(SEED_VARIABLE, "").strip()
    return int(given) if given else random.SystemRandom().randrange(2**32)

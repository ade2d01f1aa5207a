"""The outbox dispatcher is SIGKILLed at a random point, round after round, while commands keep
committing: before a batch is published, while its confirms are awaited, or after the broker
confirmed it but before the rows were marked published. The next dispatcher publishes what is
unmarked again; consumers skip what they already applied. Nothing is lost, nothing applied
twice, every balance recomputes, no saga is stuck.
"""

from __future__ import annotations

import random
import signal
from collections import Counter
from pathlib import Path

import pytest

from aequatio.bootstrap import Application
from aequatio.outbox.amqp import AmqpTransport
from aequatio.workers import Role
from tests.support.fault_dispatcher import KillPlan, KillPoint, command
from tests.support.faultcheck import assert_consistent
from tests.support.faultload import Ledger
from tests.support.faultprocess import exited, reaped, spawn
from tests.support.faultscale import scaled
from tests.support.readside import read_side

ROUNDS = scaled(3, 100)
EVENTS_PER_ROUND = scaled(100, 1_000)
#: A dispatcher that has not reached its kill point by then never will: the test fails.
DEATH_WITHIN = 60.0

pytestmark = pytest.mark.timeout(scaled(240, 6 * 3600))


def a_plan(rng: random.Random) -> KillPlan:
    size = rng.choice((10, 50, 200))
    return KillPlan(
        point=rng.choice(list(KillPoint)),
        batch=rng.randint(1, 3),
        message=rng.randint(1, size),
        batch_size=size,
    )


async def test_a_dispatcher_killed_at_random_points_loses_nothing(
    application: Application, database_url: str, amqp_url: str, rng: random.Random, tmp_path: Path
) -> None:
    ledger = await Ledger.open(application, rng)
    kills: Counter[str] = Counter()
    consumers = (Role.PROJECTIONS, Role.SAGAS)
    async with read_side(
        application.engine, AmqpTransport(amqp_url), consumers, bus=application.bus
    ):
        for round_ in range(ROUNDS):
            plan = a_plan(rng)
            await ledger.commit(EVENTS_PER_ROUND // 2)  # a backlog waits in the outbox
            argv = command(database_url, amqp_url, plan)
            with reaped(spawn(argv, tmp_path / "dispatcher.log")) as child:
                await ledger.commit(EVENTS_PER_ROUND - EVENTS_PER_ROUND // 2)
                deadline = DEATH_WITHIN
                while (code := await exited(child, 0.5)) is None and deadline > 0:
                    await ledger.commit(10)  # more batches, until it reaches its point
                    deadline -= 0.5
                assert code == -signal.SIGKILL, f"round {round_}: {plan} ended with {code}"
            kills[plan.point.value] += 1
        print(f"dispatcher killed {ROUNDS} times: {dict(kills)}; {ledger.committed} events")
        async with read_side(application.engine, AmqpTransport(amqp_url), (Role.DISPATCHER,)):
            await assert_consistent(application.engine, amqp_url=amqp_url)

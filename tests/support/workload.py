"""A steady workload of expenses and amendments through the real command bus."""

from __future__ import annotations

import random
from datetime import date

from aequatio.application import commands
from aequatio.bootstrap import Application
from tests.support.family import Family


async def expenses(application: Application, fam: Family, count: int, *, seed: int = 7) -> None:
    """A stream of expenses and amendments over three months by every member."""
    rng = random.Random(seed)
    for index in range(count):
        member = fam.members[index % len(fam.members)]
        result = await application.bus.handle(
            commands.AddExpense(
                group_id=fam.group_id,
                amount_cents=rng.randint(1, 50_000),
                currency=rng.choice(["EUR", "EUR", "USD", "JPY"]),
                description=f"expense {index}",
                incurred_on=date(2026, rng.randint(1, 3), rng.randint(1, 28)),
            ),
            member.principal,
        )
        if index % 5 == 0:
            await application.bus.handle(
                commands.AmendExpense(
                    expense_id=result.aggregate_id,
                    expected_version=1,
                    amount_cents=rng.randint(1, 50_000),
                ),
                member.principal,
            )

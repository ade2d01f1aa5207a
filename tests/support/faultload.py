"""The fault suite's workload: households spending, correcting and invoicing through the bus.

Each household runs in its own task (so its expense versions never conflict) and, from a
generator seeded by the scenario, adds expenses in three currencies over four months, amends
and deletes some, and asks for months to be invoiced — which drives both sagas (split, then
invoice) and closes months, so later changes become adjustments. A refusal (a month whose
split is still pending, say) is part of normal life and writes nothing.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import date
from uuid import UUID

from aequatio.application import commands
from aequatio.application.results import CommandResult
from aequatio.bootstrap import Application
from aequatio.domain.errors import DomainError
from tests.support.family import Family, family

NAMES = ("Ann", "Ben", "Cai")
MONTHS = (date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1), date(2026, 4, 1))


@dataclass
class Household:
    family: Family
    rng: random.Random
    #: Live expenses and their current versions.
    expenses: dict[UUID, int] = field(default_factory=dict)


class Ledger:
    """Commits events through the real command bus, as many as asked for."""

    def __init__(self, application: Application, households: list[Household]) -> None:
        self._application = application
        self._households = households
        self.committed = 0
        self.refused = 0

    @classmethod
    async def open(
        cls, application: Application, rng: random.Random, households: int = 4
    ) -> Ledger:
        made = [
            Household(await family(application.bus, *NAMES), random.Random(rng.random()))
            for _ in range(households)
        ]
        return cls(application, made)

    async def commit(self, events: int) -> int:
        """Run every household until at least ``events`` more events were committed."""
        target = self.committed + events
        before = self.committed
        await asyncio.gather(*(self._live(household, target) for household in self._households))
        return self.committed - before

    async def request_invoices(self) -> int:
        """Every household asks for a month to be invoiced at once (work for both sagas);
        returns how many were accepted."""
        accepted = 0
        for household in self._households:
            index = household.rng.randrange(len(MONTHS) - 1)
            try:
                result = await self._application.bus.handle(
                    commands.CreateInvoice(
                        group_id=household.family.group_id,
                        period_start=MONTHS[index],
                        period_end=MONTHS[index + 1],
                    ),
                    household.family.owner.principal,
                )
            except DomainError:
                self.refused += 1
                continue
            self.committed += len(result.event_ids)
            accepted += 1
        return accepted

    async def _live(self, household: Household, target: int) -> None:
        while self.committed < target:
            try:
                result = await self._act(household)
            except DomainError:
                self.refused += 1
                continue
            self.committed += len(result.event_ids)

    async def _act(self, household: Household) -> CommandResult:
        rng, fam = household.rng, household.family
        member = rng.choice(fam.members)
        roll = rng.random()
        if household.expenses and roll < 0.2:
            expense_id = rng.choice(sorted(household.expenses))
            result = await self._application.bus.handle(
                commands.AmendExpense(
                    expense_id=expense_id,
                    expected_version=household.expenses[expense_id],
                    amount_cents=rng.randint(1, 90_000),
                ),
                member.principal,
            )
            household.expenses[expense_id] = result.aggregate_version
            return result
        if household.expenses and roll < 0.25:
            expense_id = rng.choice(sorted(household.expenses))
            return await self._application.bus.handle(
                commands.DeleteExpense(
                    expense_id=expense_id, expected_version=household.expenses.pop(expense_id)
                ),
                member.principal,
            )
        if roll < 0.29:
            index = rng.randrange(len(MONTHS) - 1)
            return await self._application.bus.handle(
                commands.CreateInvoice(
                    group_id=fam.group_id,
                    period_start=MONTHS[index],
                    period_end=MONTHS[index + 1],
                ),
                member.principal,
            )
        month = rng.choice(MONTHS)
        result = await self._application.bus.handle(
            commands.AddExpense(
                group_id=fam.group_id,
                amount_cents=rng.randint(1, 90_000),
                currency=rng.choice(("EUR", "EUR", "USD", "JPY")),
                description=f"bought {rng.randrange(10**6)}",
                incurred_on=month.replace(day=rng.randint(1, 28)),
            ),
            member.principal,
        )
        household.expenses[result.aggregate_id] = result.aggregate_version
        return result

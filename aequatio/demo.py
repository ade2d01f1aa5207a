"""``aequatio demo``: a sample family with four months of everyday expenses, so that the
dashboard has something to show on a fresh ``make run``.

The family signs in on the development dashboard by name (Ann, Ben, Cai or Dee): their subjects
are the ones its local sign-in gives those names. Everything goes through the command bus like
any client's commands, each with an idempotency key that names the month it was loaded in, so
loading again in the same month changes nothing. The oldest month is invoiced and the previous
one split; the sagas do that work wherever they run (in ``aequatio serve`` or a worker).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import date, timedelta
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from aequatio.api.dashboard import subject_for
from aequatio.application import commands
from aequatio.application.bus import MessageBus
from aequatio.application.context import Principal
from aequatio.domain.errors import DomainError, ErrorCode
from aequatio.domain.sharing import Payer, SplitMode, SplitRule
from aequatio.persistence.tables import users

#: Name and weight in the group (the grown-ups carry more of the shared costs).
FAMILY = (("Ann", 2), ("Ben", 2), ("Cai", 1), ("Dee", 1))
MONTHS = 4
EVERYONE_EQUALLY = SplitRule(SplitMode.EQUAL)


@dataclass(frozen=True)
class DemoReport:
    group_id: UUID
    first_month: date
    expenses: int
    people: tuple[str, ...]


def month_start(day: date, back: int = 0) -> date:
    """The first day of the month ``back`` months before ``day``'s."""
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Member:
    principal: Principal
    user_id: UUID


class _Loader:
    """Runs the demo's commands with idempotency keys of the month it loads in."""

    def __init__(self, bus: MessageBus, engine: AsyncEngine, today: date) -> None:
        self._bus = bus
        self._engine = engine
        self._tag = f"demo-{today:%Y-%m}"
        self.expenses = 0

    async def run(self, command: commands.Command, who: Member | Principal, key: str) -> UUID:
        principal = who.principal if isinstance(who, Member) else who
        keyed = replace(command, idempotency_key=f"{self._tag}-{key}")
        return (await self._bus.handle(keyed, principal)).aggregate_id

    async def person(self, name: str) -> Member:
        principal = Principal(subject=subject_for(name))
        register = commands.RegisterUser(name=name, email=f"{principal.subject}@example.org")
        try:
            return Member(principal, await self.run(register, principal, "me"))
        except DomainError as error:
            if error.code is not ErrorCode.ALREADY_REGISTERED:
                raise
        async with self._engine.connect() as connection:
            query = select(users.c.id).where(users.c.subject == principal.subject)
            return Member(principal, (await connection.execute(query)).scalar_one())

    async def expense(self, who: Member, expense: commands.AddExpense) -> None:
        self.expenses += 1
        await self.run(expense, who, f"expense-{self.expenses}")


async def load_demo(bus: MessageBus, engine: AsyncEngine, today: date) -> DemoReport:
    """The family, its group, and its expenses from three months back up to ``today``."""
    loader = _Loader(bus, engine, today)
    ann, ben, cai, dee = [await loader.person(name) for name, _ in FAMILY]
    first = month_start(today, MONTHS - 1)
    group_id = await loader.run(
        commands.CreateGroup(name="The Lee family", currency="EUR", started_on=first), ann, "group"
    )
    for member, (name, weight) in zip((ben, cai, dee), FAMILY[1:], strict=True):
        joining = commands.AddMember(
            group_id=group_id, user_id=member.user_id, weight=weight, joined_on=first
        )
        await loader.run(joining, ann, f"member-{name.lower()}")

    rng = random.Random(first.isoformat())  # noqa: S311 - sample amounts, not secrets
    for back in range(MONTHS - 1, -1, -1):
        start = month_start(today, back)
        for who, expense in _month(start, rng, group_id, (ann, ben, cai, dee), flights=back == 2):
            if expense.incurred_on <= today:
                await loader.expense(who, expense)

    invoiced = commands.CreateInvoice(
        group_id=group_id, period_start=first, period_end=month_start(today, MONTHS - 2)
    )
    await loader.run(invoiced, ann, "invoice")
    split = commands.RequestSplit(
        group_id=group_id, period_start=month_start(today, 1), period_end=month_start(today)
    )
    await loader.run(split, ann, "split")
    return DemoReport(group_id, first, loader.expenses, tuple(name for name, _ in FAMILY))


def _month(
    start: date,
    rng: random.Random,
    group_id: UUID,
    family: tuple[Member, Member, Member, Member],
    *,
    flights: bool,
) -> list[tuple[Member, commands.AddExpense]]:
    """One month of the family's spending, every split mode and several payers among it."""
    ann, ben, cai, dee = family

    def spent(
        day: int,
        amount: int,
        description: str,
        category: str,
        *,
        split: SplitRule = EVERYONE_EQUALLY,
        payers: tuple[Payer, ...] | None = None,
        currency: str = "EUR",
    ) -> commands.AddExpense:
        return commands.AddExpense(
            group_id=group_id,
            amount_cents=amount,
            currency=currency,
            description=description,
            category=category,
            incurred_on=start + timedelta(days=day - 1),
            payers=payers,
            split=split,
        )

    by_weight = SplitRule(
        SplitMode.SHARES,
        weights=((ann.user_id, 2), (ben.user_id, 2), (cai.user_id, 1), (dee.user_id, 1)),
    )
    grown_ups = SplitRule(SplitMode.EQUAL, participants=(ann.user_id, ben.user_id))
    internet = SplitRule(
        SplitMode.PERCENT,
        weights=((ann.user_id, 4_000), (ben.user_id, 4_000), (cai.user_id, 2_000)),
    )
    dinner = rng.randint(9_000, 16_000)
    adult, child = dinner * 3 // 10, dinner * 2 // 10
    dinner_shares = SplitRule(
        SplitMode.EXACT,
        weights=(
            (ann.user_id, adult),
            (ben.user_id, adult),
            (cai.user_id, child),
            (dee.user_id, dinner - 2 * adult - child),
        ),
    )
    dinner_payers = (Payer(ann.user_id, dinner // 2), Payer(ben.user_id, dinner - dinner // 2))
    spending = [
        (ann, spent(1, 145_000, "Rent", "home", split=by_weight)),
        (ben, spent(12, rng.randint(7_000, 12_000), "Electricity", "home", split=grown_ups)),
        (cai, spent(15, 3_999, "Internet", "home", split=internet)),
        (ann, spent(20, dinner, "Dinner out", "food", split=dinner_shares, payers=dinner_payers)),
    ]
    for buyer, day in zip((ann, ben, ann, dee), (3, 10, 17, 24), strict=True):
        spending.append((buyer, spent(day, rng.randint(6_000, 14_000), "Groceries", "food")))
    if flights:
        spending.append((dee, spent(8, 123_456, "Flights to Lisbon", "travel", currency="USD")))
    return sorted(spending, key=lambda pair: pair[1].incurred_on)

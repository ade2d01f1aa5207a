"""Optimistic concurrency on the real database: one writer wins, the others get a typed conflict."""

from __future__ import annotations

import asyncio
from datetime import date

from sqlalchemy import select

from aequatio.application import commands
from aequatio.bootstrap import Application
from aequatio.domain.errors import Conflict, ErrorCode
from aequatio.persistence.tables import events_store
from tests.support.family import family


async def test_twenty_concurrent_amendments_with_one_expected_version_have_one_winner(
    application: Application,
) -> None:
    fam = await family(application.bus, "Ann", "Ben", "Cai")
    added = await application.bus.handle(
        commands.AddExpense(
            group_id=fam.group_id,
            amount_cents=9000,
            currency="EUR",
            description="dinner",
            incurred_on=date(2026, 2, 14),
        ),
        fam.owner.principal,
    )

    async def amend(index: int) -> object:
        try:
            return await application.bus.handle(
                commands.AmendExpense(
                    expense_id=added.aggregate_id,
                    expected_version=1,
                    amount_cents=9000 + index + 1,
                ),
                fam.members[index % 3].principal,
            )
        except Conflict as conflict:
            return conflict

    outcomes = await asyncio.gather(*(amend(index) for index in range(20)))

    conflicts = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(conflicts) == 19
    assert {c.code for c in conflicts} == {ErrorCode.VERSION_CONFLICT}
    async with application.engine.connect() as connection:
        versions = (
            (
                await connection.execute(
                    select(events_store.c.aggregate_version)
                    .where(events_store.c.aggregate_id == added.aggregate_id)
                    .order_by(events_store.c.aggregate_version)
                )
            )
            .scalars()
            .all()
        )
    assert versions == [1, 2]


async def test_concurrent_expenses_in_one_month_are_all_kept(application: Application) -> None:
    fam = await family(application.bus, "Ann", "Ben")
    results = await asyncio.gather(
        *(
            application.bus.handle(
                commands.AddExpense(
                    group_id=fam.group_id,
                    amount_cents=100 + index,
                    currency="EUR",
                    description=f"item {index}",
                    incurred_on=date(2026, 3, 1 + index % 28),
                ),
                fam.members[index % 2].principal,
            )
            for index in range(30)
        )
    )
    assert len({result.aggregate_id for result in results}) == 30

"""Idempotency keys on the real database: a retry returns the first result and writes nothing."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
from sqlalchemy import func, select

from aequatio.application import commands
from aequatio.bootstrap import Application
from aequatio.domain.errors import Conflict, ErrorCode
from aequatio.persistence.tables import events_store, expenses
from tests.support.family import family


def groceries(group_id: object, key: str, amount: int = 4200) -> commands.AddExpense:
    return commands.AddExpense(
        group_id=group_id,  # type: ignore[arg-type]
        amount_cents=amount,
        currency="EUR",
        description="groceries",
        incurred_on=date(2026, 1, 9),
        idempotency_key=key,
    )


async def count(application: Application, table: object) -> int:
    async with application.engine.connect() as connection:
        return (await connection.execute(select(func.count()).select_from(table))).scalar_one()  # type: ignore[arg-type]


async def test_a_retried_command_returns_the_first_result_and_writes_nothing(
    application: Application,
) -> None:
    fam = await family(application.bus, "Ann", "Ben")
    first = await application.bus.handle(groceries(fam.group_id, "k-1"), fam.owner.principal)
    events_before = await count(application, events_store)

    retry = await application.bus.handle(groceries(fam.group_id, "k-1"), fam.owner.principal)

    assert (retry.aggregate_id, retry.event_ids, retry.replayed) == (
        first.aggregate_id,
        first.event_ids,
        True,
    )
    assert await count(application, events_store) == events_before
    assert await count(application, expenses) == 1


async def test_concurrent_retries_with_one_key_write_once(application: Application) -> None:
    fam = await family(application.bus, "Ann", "Ben")
    results = await asyncio.gather(
        *(
            application.bus.handle(groceries(fam.group_id, "k-2"), fam.owner.principal)
            for _ in range(10)
        )
    )
    assert len({result.aggregate_id for result in results}) == 1
    assert sum(not result.replayed for result in results) == 1
    assert await count(application, expenses) == 1


async def test_reusing_a_key_for_another_command_is_refused(application: Application) -> None:
    fam = await family(application.bus, "Ann", "Ben")
    await application.bus.handle(groceries(fam.group_id, "k-3"), fam.owner.principal)
    with pytest.raises(Conflict) as refused:
        await application.bus.handle(groceries(fam.group_id, "k-3", amount=1), fam.owner.principal)
    assert (refused.value.code, refused.value.field) == (
        ErrorCode.IDEMPOTENCY_KEY_REUSED,
        "idempotency_key",
    )


async def test_keys_belong_to_their_principal(application: Application) -> None:
    fam = await family(application.bus, "Ann", "Ben")
    mine = await application.bus.handle(groceries(fam.group_id, "same"), fam.owner.principal)
    theirs = await application.bus.handle(groceries(fam.group_id, "same"), fam.others[0].principal)
    assert mine.aggregate_id != theirs.aggregate_id

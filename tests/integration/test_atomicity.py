"""A command writes aggregate rows, events, outbox and idempotency key together, or nothing."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from aequatio.application import commands
from aequatio.bootstrap import Application, bootstrap
from aequatio.config import Settings
from aequatio.events.envelope import Envelope
from aequatio.persistence.tables import WRITE_TABLES
from aequatio.persistence.unit_of_work import SqlUnitOfWork
from tests.support.family import family


class InjectedFault(RuntimeError):
    pass


class FaultBeforeCommit(SqlUnitOfWork):
    """Everything is written (aggregates, events, outbox, idempotency); then the process "dies"."""

    async def _commit(self) -> None:
        raise InjectedFault("crash between the last write and COMMIT")


class FaultAfterAggregateWrite(SqlUnitOfWork):
    """The aggregate rows are written; the crash comes before the events are appended."""

    async def _append(self, envelopes: list[Envelope]) -> None:
        raise InjectedFault("crash after the aggregate write")


async def row_counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as connection:
        return {
            table.name: (
                await connection.execute(select(func.count()).select_from(table))
            ).scalar_one()
            for table in WRITE_TABLES
        }


@pytest.mark.parametrize("faulty_uow", [FaultBeforeCommit, FaultAfterAggregateWrite])
async def test_a_crash_before_commit_leaves_no_row_in_any_table_100_times(
    application: Application, database_url: str, faulty_uow: type[SqlUnitOfWork]
) -> None:
    fam = await family(application.bus, "Ann", "Ben")
    before = await row_counts(application.engine)
    crashing = bootstrap(Settings(), database_url=database_url, uow_class=faulty_uow)
    try:
        for attempt in range(100):
            with pytest.raises(InjectedFault):
                await crashing.bus.handle(
                    commands.AddExpense(
                        group_id=fam.group_id,
                        amount_cents=1000 + attempt,
                        currency="EUR",
                        description=f"groceries {attempt}",
                        incurred_on=date(2026, 1, 1 + attempt % 28),
                        idempotency_key=f"attempt-{attempt}",
                    ),
                    fam.owner.principal,
                )
    finally:
        await crashing.aclose()
    assert await row_counts(application.engine) == before


async def test_without_a_fault_the_same_command_writes_every_table(
    application: Application,
) -> None:
    fam = await family(application.bus, "Ann", "Ben")
    before = await row_counts(application.engine)
    await application.bus.handle(
        commands.AddExpense(
            group_id=fam.group_id,
            amount_cents=1000,
            currency="EUR",
            description="groceries",
            incurred_on=date(2026, 1, 3),
            idempotency_key="once",
        ),
        fam.owner.principal,
    )
    after = await row_counts(application.engine)
    grew = {name for name in after if after[name] > before[name]}
    assert grew == {
        "expenses",
        "expense_postings",
        "group_periods",
        "events_store",
        "events_outbox",
        "idempotency_keys",
    }

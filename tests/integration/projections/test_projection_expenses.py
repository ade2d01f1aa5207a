"""``read.expenses``: each expense as it stands, paged per group and period."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from sqlalchemy import and_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from aequatio.bootstrap import Application
from aequatio.domain.sharing import Payer, SplitMode, SplitRule
from aequatio.persistence.event_store import read_stream
from aequatio.projections.tables import expenses
from tests.support.family import family
from tests.support.history import (
    JANUARY,
    Driver,
    project_everything,
)


async def expense_row(connection: AsyncConnection, expense_id: UUID) -> dict[str, Any]:
    row = (
        await connection.execute(select(expenses).where(expenses.c.expense_id == expense_id))
    ).one()
    return dict(row._mapping)


async def test_a_new_expense_reads_back_as_its_event_describes_it(
    application: Application,
) -> None:
    fam = await family(application.bus, "Ann", "Ben", "Cai")
    ann, ben, cai = (m.user_id for m in fam.members)
    driver = Driver(application.bus, fam)
    expense_id = await driver.spend(
        10_001,
        date(2026, 1, 15),
        description="Dinner",
        category="food",
        payers=(Payer(ann, 6_001), Payer(ben, 4_000)),
        split=SplitRule(SplitMode.SHARES, weights=((ann, 2), (ben, 1), (cai, 1))),
    )
    await project_everything(application.engine)

    async with application.engine.connect() as connection:
        row = await expense_row(connection, expense_id)
        (created,) = await read_stream(connection, expense_id)
    payload = created.payload
    assert row == {
        "expense_id": expense_id,
        "group_id": fam.group_id,
        "description": "Dinner",
        "category": "food",
        "amount_cents": 10_001,
        "currency": "EUR",
        "incurred_on": date(2026, 1, 15),
        "created_by": ann,
        "payers": payload["payers"],
        "split": payload["split"],
        "shares": payload["shares"],
        "postings": payload["postings"],
        "is_adjustment": False,
        "status": "active",
        "version": 1,
        "created_at": created.occurred_at,
        "updated_at": created.occurred_at,
    }
    assert sum(share["amount_cents"] for share in row["shares"]) == 10_001


async def test_amendments_overwrite_amount_currency_date_and_payers(
    application: Application,
) -> None:
    fam = await family(application.bus, "Ann", "Ben")
    ann, ben = (m.user_id for m in fam.members)
    driver = Driver(application.bus, fam)
    expense_id = await driver.spend(4_000, date(2026, 1, 15), category="food")
    await driver.amend(expense_id, amount=5_000, currency="USD", day=date(2026, 2, 2))
    await driver.amend(expense_id, payers=(Payer(ann, 1_000), Payer(ben, 4_000)), category="")
    await project_everything(application.engine)

    async with application.engine.connect() as connection:
        row = await expense_row(connection, expense_id)
        stream = await read_stream(connection, expense_id)
    assert (row["amount_cents"], row["currency"], row["incurred_on"]) == (
        5_000,
        "USD",
        date(2026, 2, 2),
    )
    assert row["category"] is None
    assert row["payers"] == [
        {"user_id": str(ann), "amount_cents": 1_000},
        {"user_id": str(ben), "amount_cents": 4_000},
    ]
    assert row["postings"] == stream[-1].payload["postings"]
    assert [p["month"] for p in row["postings"]] == ["2026-02-01"]
    assert (row["version"], row["updated_at"]) == (3, stream[-1].occurred_at)
    assert row["created_at"] == stream[0].occurred_at


async def test_deleting_keeps_the_row_and_the_postings_that_remain_booked(
    application: Application,
) -> None:
    driver = Driver(application.bus, await family(application.bus, "Ann", "Ben"))
    open_month = await driver.spend(1_000, date(2026, 1, 3))
    await driver.delete(open_month)
    invoiced = await driver.spend(3_000, date(2026, 1, 10))
    await driver.close(JANUARY)
    await driver.delete(invoiced)
    await project_everything(application.engine)

    async with application.engine.connect() as connection:
        forgotten = await expense_row(connection, open_month)
        reversed_ = await expense_row(connection, invoiced)
    assert (forgotten["status"], forgotten["postings"], forgotten["is_adjustment"]) == (
        "deleted",
        [],
        False,
    )
    assert reversed_["status"] == "deleted"
    assert [(p["month"], p["kind"]) for p in reversed_["postings"]] == [
        ("2026-01-01", "expense"),
        ("2026-02-01", "adjustment"),
    ]
    assert reversed_["is_adjustment"] is True


async def test_a_late_expense_for_a_closed_month_is_flagged_as_an_adjustment(
    application: Application,
) -> None:
    driver = Driver(application.bus, await family(application.bus, "Ann", "Ben"))
    on_time = await driver.spend(3_000, date(2026, 1, 10))
    await driver.close(JANUARY)
    late = await driver.spend(1_000, date(2026, 1, 20))
    await project_everything(application.engine)

    async with application.engine.connect() as connection:
        flags = {
            expense_id: (await expense_row(connection, expense_id))["is_adjustment"]
            for expense_id in (on_time, late)
        }
        late_row = await expense_row(connection, late)
    assert flags == {on_time: False, late: True}
    assert late_row["incurred_on"] == date(2026, 1, 20)
    assert [(p["month"], p["adjusts_month"]) for p in late_row["postings"]] == [
        ("2026-02-01", "2026-01-01")
    ]


async def test_expenses_of_a_period_page_by_date_then_id(application: Application) -> None:
    """Keyset pagination on (incurred_on, expense_id), as the index is laid out."""
    driver = Driver(application.bus, await family(application.bus, "Ann", "Ben"))
    days = [date(2026, 1, 20), date(2026, 1, 5), date(2026, 1, 5), date(2026, 2, 1)]
    spent = [await driver.spend(100 * (i + 1), day) for i, day in enumerate(days)]
    other = Driver(application.bus, await family(application.bus, "Zoe"))
    await other.spend(999, date(2026, 1, 6))
    await project_everything(application.engine)

    pages: list[list[UUID]] = []
    cursor: tuple[date, UUID] | None = None
    async with application.engine.connect() as connection:
        while True:
            query = (
                select(expenses.c.incurred_on, expenses.c.expense_id)
                .where(
                    expenses.c.group_id == driver.family.group_id,
                    expenses.c.incurred_on >= JANUARY[0],
                    expenses.c.incurred_on < JANUARY[1],
                )
                .order_by(expenses.c.incurred_on, expenses.c.expense_id)
                .limit(2)
            )
            if cursor is not None:
                query = query.where(
                    and_(tuple_(expenses.c.incurred_on, expenses.c.expense_id) > tuple_(*cursor))
                )
            page = (await connection.execute(query)).all()
            if not page:
                break
            pages.append([row.expense_id for row in page])
            cursor = (page[-1].incurred_on, page[-1].expense_id)
    january = sorted(zip(days[:3], spent[:3], strict=True))
    assert [expense_id for page in pages for expense_id in page] == [e for _, e in january]
    assert [len(page) for page in pages] == [2, 1]

"""``read.monthly_balances``: paid, owed and net per month, member and currency."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from sqlalchemy import select

from aequatio.bootstrap import Application
from aequatio.domain.sharing import Payer
from aequatio.projections.tables import balance_postings, monthly_balances
from tests.support.family import family
from tests.support.history import (
    JANUARY,
    Driver,
    project_everything,
    rich_history,
)
from tests.support.recompute import projected_balances, recompute_balances

JAN, FEB = date(2026, 1, 1), date(2026, 2, 1)

#: ``(month, user, currency) -> (paid, owed, net)``
Positions = dict[tuple[date, UUID, str], tuple[int, int, int]]


async def positions(application: Application) -> Positions:
    async with application.engine.connect() as connection:
        rows = await connection.execute(select(monthly_balances))
        return {
            (row.month, row.user_id, row.currency): (row.paid_cents, row.owed_cents, row.net_cents)
            for row in rows
        }


async def test_an_expense_credits_its_payers_and_debits_its_sharers(
    application: Application,
) -> None:
    fam = await family(application.bus, "Ann", "Ben", "Cai")
    ann, ben, cai = (m.user_id for m in fam.members)
    driver = Driver(application.bus, fam)
    await driver.spend(9_000, date(2026, 1, 5))
    await driver.spend(1_000, date(2026, 1, 6), currency="USD", payers=(Payer(ben, 1_000),))
    await project_everything(application.engine)

    balances = await positions(application)
    assert {key: value for key, value in balances.items() if key[2] == "EUR"} == {
        (JAN, ann, "EUR"): (9_000, 3_000, 6_000),
        (JAN, ben, "EUR"): (0, 3_000, -3_000),
        (JAN, cai, "EUR"): (0, 3_000, -3_000),
    }
    usd = {key[1]: value for key, value in balances.items() if key[2] == "USD"}
    # The odd cent goes to one of the three (largest remainder, ties rotated by expense id).
    assert sorted(owed for _, owed, _ in usd.values()) == [333, 333, 334]
    assert {user: paid for user, (paid, _, _) in usd.items()} == {ann: 0, ben: 1_000, cai: 0}
    assert all(net == paid - owed for paid, owed, net in usd.values())


async def test_moving_an_expense_to_another_month_moves_its_balances(
    application: Application,
) -> None:
    fam = await family(application.bus, "Ann", "Ben")
    ann, ben = (m.user_id for m in fam.members)
    driver = Driver(application.bus, fam)
    expense_id = await driver.spend(2_000, date(2026, 1, 5))
    await project_everything(application.engine)
    await driver.amend(expense_id, day=date(2026, 2, 5), amount=3_000)
    await project_everything(application.engine)

    assert await positions(application) == {
        (FEB, ann, "EUR"): (3_000, 1_500, 1_500),
        (FEB, ben, "EUR"): (0, 1_500, -1_500),
    }


async def test_deleting_in_an_open_month_leaves_no_balance_behind(
    application: Application,
) -> None:
    driver = Driver(application.bus, await family(application.bus, "Ann", "Ben"))
    expense_id = await driver.spend(2_000, date(2026, 1, 5))
    await driver.delete(expense_id)
    await project_everything(application.engine)

    assert await positions(application) == {}
    async with application.engine.connect() as connection:
        kept = (await connection.execute(select(balance_postings.c.postings))).scalars().all()
    assert kept == [[]]


async def test_late_changes_to_a_closed_month_land_in_the_next_month(
    application: Application,
) -> None:
    fam = await family(application.bus, "Ann", "Ben")
    ann, ben = (m.user_id for m in fam.members)
    driver = Driver(application.bus, fam)
    invoiced = await driver.spend(2_000, date(2026, 1, 10))
    await driver.close(JANUARY)
    await driver.spend(600, date(2026, 1, 20), by=fam.others[0])
    await driver.delete(invoiced)
    await project_everything(application.engine)

    assert await positions(application) == {
        # January stays as it was invoiced.
        (JAN, ann, "EUR"): (2_000, 1_000, 1_000),
        (JAN, ben, "EUR"): (0, 1_000, -1_000),
        # February: the late expense, and the deleted one's reversal.
        (FEB, ann, "EUR"): (-2_000, 300 - 1_000, -1_300),
        (FEB, ben, "EUR"): (600, -700, 1_300),
    }


async def test_balances_equal_a_recomputation_from_the_event_store(
    application: Application,
) -> None:
    await rich_history(application.bus)
    await project_everything(application.engine)

    async with application.engine.connect() as connection:
        expected = await recompute_balances(connection)
        projected = await projected_balances(connection)
    assert projected == expected
    assert {currency for (_, _, _, currency) in expected} == {"EUR", "USD"}
    assert {month for (_, month, _, _) in expected} == {JAN, FEB, date(2026, 3, 1)}
    assert any(paid < 0 or owed < 0 for paid, owed in expected.values()), "reversals"
    for month in {month for (_, month, _, _) in expected}:
        in_month = [v for (_, m, _, _), v in expected.items() if m == month]
        assert sum(paid for paid, _ in in_month) == sum(owed for _, owed in in_month)

"""``aequatio demo`` on a real database: the family, its group and four months of expenses in
every split mode; loading it again in the same month writes nothing."""

from __future__ import annotations

from collections import Counter
from datetime import date

from sqlalchemy import func, select

from aequatio.bootstrap import Application
from aequatio.demo import FAMILY, load_demo
from aequatio.persistence.tables import events_store, expenses, users

TODAY = date(2026, 11, 25)


async def event_types(application: Application) -> Counter[str]:
    async with application.engine.connect() as connection:
        rows = await connection.execute(select(events_store.c.event_type))
        return Counter(row.event_type for row in rows)


async def test_the_demo_family_loads_once_per_month(application: Application) -> None:
    report = await load_demo(application.bus, application.engine, TODAY)
    written = await event_types(application)

    assert report.first_month == date(2026, 8, 1)
    assert written["user.registered"] == len(FAMILY)
    assert written["group.created"] == 1
    assert written["group.member_added"] == len(FAMILY) - 1
    assert written["expense.created"] == report.expenses
    assert written["split.requested"] == 2  # the invoiced oldest month, and last month
    async with application.engine.connect() as connection:
        subjects = set((await connection.execute(select(users.c.subject))).scalars())
        rules = (await connection.execute(select(expenses.c.split_rule))).scalars()
        modes = {rule["mode"] for rule in rules}
        latest = (await connection.execute(select(func.max(expenses.c.incurred_on)))).scalar()
    assert subjects == {"dev-ann", "dev-ben", "dev-cai", "dev-dee"}
    assert modes == {"EQUAL", "SHARES", "EXACT", "PERCENT"}
    assert latest is not None
    assert latest <= TODAY

    again = await load_demo(application.bus, application.engine, TODAY)
    assert again == report
    assert await event_types(application) == written

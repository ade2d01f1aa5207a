"""``read.groups``, ``read.group_members`` and ``read.group_totals``."""

from __future__ import annotations

from datetime import date

from aequatio.application import commands
from aequatio.bootstrap import Application
from aequatio.events.catalog import EVENTS
from aequatio.projections.group_summary import GroupSummary
from aequatio.projections.tables import group_expense_amounts, group_members, group_totals, groups
from tests.support.family import START, family
from tests.support.history import Driver, project_everything, rows


async def test_members_leave_and_rejoin_as_new_spans_and_only_active_ones_count(
    application: Application,
) -> None:
    fam = await family(application.bus, "Ann", "Ben", "Cai")
    ann, ben, cai = fam.members
    driver = Driver(application.bus, fam)
    await driver.remove(cai, date(2026, 2, 15))
    await project_everything(application.engine)

    async with application.engine.connect() as connection:
        (group,) = await rows(connection, groups)
        assert (group["group_id"], group["name"], group["currency"], group["owner_id"]) == (
            fam.group_id,
            "Family",
            "EUR",
            ann.user_id,
        )
        assert group["member_count"] == 2

    await application.bus.handle(
        commands.AddMember(
            group_id=fam.group_id,
            user_id=cai.user_id,
            role="admin",
            weight=2,
            joined_on=date(2026, 3, 1),
        ),
        ann.principal,
    )
    await project_everything(application.engine)

    async with application.engine.connect() as connection:
        (group,) = await rows(connection, groups)
        spans = await rows(connection, group_members)
    assert group["member_count"] == 3
    assert sorted(
        (
            row["user_id"] == cai.user_id,
            row["joined_on"],
            row["left_on"],
            row["role"],
            row["weight"],
        )
        for row in spans
    ) == [
        (False, START, None, "member", 1),
        (False, START, None, "owner", 1),
        (True, START, date(2026, 2, 15), "member", 1),
        (True, date(2026, 3, 1), None, "admin", 2),
    ]
    assert {row["user_id"] for row in spans} == {ann.user_id, ben.user_id, cai.user_id}


async def test_totals_follow_amendments_across_currencies_and_forget_deleted_expenses(
    application: Application,
) -> None:
    driver = Driver(application.bus, await family(application.bus, "Ann", "Ben"))
    kept = await driver.spend(1_000, date(2026, 1, 3))
    deleted = await driver.spend(2_000, date(2026, 1, 4))
    moved = await driver.spend(500, date(2026, 1, 5), currency="USD")
    await project_everything(application.engine)
    async with application.engine.connect() as connection:
        assert [
            (row["currency"], row["total_cents"], row["expense_count"])
            for row in await rows(connection, group_totals)
        ] == [("EUR", 3_000, 2), ("USD", 500, 1)]

    await driver.amend(kept, amount=1_500)
    await driver.amend(moved, currency="EUR", amount=700)
    await driver.delete(deleted)
    await project_everything(application.engine)

    async with application.engine.connect() as connection:
        totals = await rows(connection, group_totals)
        amounts = await rows(connection, group_expense_amounts)
    assert [
        (row["group_id"], row["currency"], row["total_cents"], row["expense_count"])
        for row in totals
    ] == [(driver.family.group_id, "EUR", 2_200, 2)]
    assert {row["expense_id"]: (row["currency"], row["amount_cents"]) for row in amounts} == {
        kept: ("EUR", 1_500),
        moved: ("EUR", 700),
    }


def test_the_summary_listens_to_group_and_expense_events_only() -> None:
    assert GroupSummary().event_types(EVENTS) == [
        "expense.amended",
        "expense.created",
        "expense.deleted",
        "group.created",
        "group.member_added",
        "group.member_removed",
    ]

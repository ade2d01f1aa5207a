"""``read.activity``: the audit timeline of every event, in event-store order."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select

from aequatio.application import commands
from aequatio.application.commands import ConversionInput
from aequatio.bootstrap import Application
from aequatio.domain.sharing import Payer
from aequatio.projections.tables import activity
from tests.support.family import family
from tests.support.history import (
    JANUARY,
    Driver,
    project_everything,
)


async def timeline(application: Application) -> list[dict[str, Any]]:
    async with application.engine.connect() as connection:
        result = await connection.execute(select(activity).order_by(activity.c.position))
        return [dict(row._mapping) for row in result]


async def test_every_event_appears_once_at_its_position_with_its_group_and_actor(
    application: Application,
) -> None:
    fam = await family(application.bus, "Ann", "Ben")
    ann, ben = fam.members
    driver = Driver(application.bus, fam)
    await driver.spend(4_250, date(2026, 1, 5), description="Groceries")
    await driver.split(JANUARY)
    events = await project_everything(application.engine)

    entries = await timeline(application)
    assert [(e["event_id"], e["position"]) for e in entries] == [
        (s.envelope.event_id, s.position) for s in events
    ]
    assert [e["event_type"] for e in entries] == [
        "user.registered",
        "user.registered",
        "group.created",
        "group.member_added",
        "expense.created",
        "split.requested",
        "split.completed",
    ]
    registered, _, created, added, spent, requested, completed = entries
    assert (registered["group_id"], registered["actor_user_id"], registered["summary"]) == (
        None,
        ann.user_id,
        "Ann registered",
    )
    assert registered["actor"] == ann.principal.subject
    assert all(e["group_id"] == fam.group_id for e in entries[2:])
    assert created["summary"] == f"user {ann.user_id.hex[:8]} created the group 'Family' (EUR)"
    assert added["actor_user_id"] == ann.user_id
    assert added["details"] == {
        "user_id": str(ben.user_id),
        "role": "member",
        "weight": 1,
        "joined_on": "2026-01-01",
    }
    assert spent["summary"] == f"user {ann.user_id.hex[:8]} added 'Groceries' (42.50 EUR)"
    assert spent["details"] == {
        "amount_cents": 4_250,
        "currency": "EUR",
        "description": "Groceries",
        "incurred_on": "2026-01-05",
    }
    assert (spent["aggregate_type"], spent["aggregate_id"]) == (
        "expense",
        events[4].envelope.aggregate_id,
    )
    assert requested["summary"] == f"user {ann.user_id.hex[:8]} requested the split of 2026-01"
    assert (completed["actor"], completed["actor_user_id"]) == ("system:saga.split", None)
    assert completed["summary"] == "The split of 2026-01 completed with 1 transfer(s)"


async def test_an_amendment_shows_the_before_and_after_of_each_changed_field(
    application: Application,
) -> None:
    fam = await family(application.bus, "Ann", "Ben")
    ann, ben = (m.user_id for m in fam.members)
    driver = Driver(application.bus, fam)
    expense_id = await driver.spend(4_000, date(2026, 1, 15), description="Rent")
    await driver.amend(
        expense_id,
        by=fam.others[0],
        amount=5_000,
        currency="USD",
        day=date(2026, 2, 2),
        payers=(Payer(ann, 1_000), Payer(ben, 4_000)),
    )
    await project_everything(application.engine)

    amended = (await timeline(application))[-1]
    assert amended["event_type"] == "expense.amended"
    assert (amended["group_id"], amended["actor_user_id"]) == (fam.group_id, ben)
    assert amended["summary"] == (
        f"user {ben.hex[:8]} amended 'Rent': amount_cents, currency, incurred_on, payers, shares"
    )
    details = amended["details"]
    assert details["amount_cents"] == {"before": 4_000, "after": 5_000}
    assert details["currency"] == {"before": "EUR", "after": "USD"}
    assert details["incurred_on"] == {"before": "2026-01-15", "after": "2026-02-02"}
    assert details["payers"] == {
        "before": [{"user_id": str(ann), "amount_cents": 4_000}],
        "after": [
            {"user_id": str(ann), "amount_cents": 1_000},
            {"user_id": str(ben), "amount_cents": 4_000},
        ],
    }
    assert "description" not in details


async def test_late_expenses_failures_payments_voids_and_departures_read_as_sentences(
    application: Application,
) -> None:
    fam = await family(application.bus, "Ann", "Ben", "Cai")
    ann, _, cai = fam.members
    who = f"user {ann.user_id.hex[:8]}"
    driver = Driver(application.bus, fam)
    expense_id = await driver.spend(1_250, date(2026, 1, 5), currency="BHD", description="Tea")
    await driver.split(JANUARY, conversion=ConversionInput(currency="EUR", rates=(("GBP", "1"),)))
    invoice_id = await driver.close(JANUARY)
    await driver.spend(900, date(2026, 1, 20), currency="JPY", description="Sushi")
    await driver.delete(expense_id)
    await driver.pay(invoice_id)
    february = await driver.close((date(2026, 2, 1), date(2026, 3, 1)))
    await driver.void(february, "duplicate")
    await driver.remove(cai, date(2026, 3, 1))
    await application.bus.handle(
        commands.RemoveMember(
            group_id=fam.group_id, user_id=fam.others[0].user_id, left_on=date(2026, 3, 2)
        ),
        fam.others[0].principal,
    )
    await project_everything(application.engine)

    summaries = [e["summary"] for e in await timeline(application) if e["group_id"] is not None]
    assert f"{who} added 'Tea' (1.250 BHD)" in summaries
    assert "The split of 2026-01 failed: no exchange rate from BHD to EUR" in summaries, summaries
    assert f"{who} added 'Sushi' (900 JPY), booked as an adjustment in 2026-02" in summaries
    assert f"{who} deleted the expense {expense_id.hex[:8]}" in summaries
    assert f"{who} marked the invoice {invoice_id.hex[:8]} paid" in summaries
    assert f"{who} voided the invoice {february.hex[:8]}: duplicate" in summaries
    assert f"{who} removed user {cai.user_id.hex[:8]} as of 2026-03-01" in summaries
    ben = fam.others[0].user_id
    assert f"user {ben.hex[:8]} left the group on 2026-03-02" in summaries
    issued = [s for s in summaries if " issued the invoice for 2026-01 " in s]
    assert issued == [f"{who} issued the invoice for 2026-01 (1.250 BHD)"]

"""``read.splits``: requested splits, their outcome, or why they failed."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from sqlalchemy import select

from aequatio.application.commands import ConversionInput
from aequatio.bootstrap import Application
from aequatio.persistence.event_store import read_stream
from aequatio.projections.tables import splits
from tests.support.family import family
from tests.support.history import (
    JANUARY,
    Driver,
    project_everything,
)


async def split_row(application: Application, split_id: UUID) -> dict[str, Any]:
    async with application.engine.connect() as connection:
        row = (await connection.execute(select(splits).where(splits.c.split_id == split_id))).one()
        return dict(row._mapping)


async def test_a_completed_split_carries_balances_and_transfers_per_currency(
    application: Application,
) -> None:
    fam = await family(application.bus, "Ann", "Ben")
    driver = Driver(application.bus, fam)
    await driver.spend(3_000, date(2026, 1, 4))
    await driver.spend(1_000, date(2026, 1, 9), currency="USD")
    split_id = await driver.split(JANUARY, issue_invoice=True)
    await project_everything(application.engine)

    row = await split_row(application, split_id)
    async with application.engine.connect() as connection:
        requested, completed = await read_stream(connection, split_id)
    assert (row["group_id"], row["period_start"], row["period_end"]) == (
        fam.group_id,
        *JANUARY,
    )
    assert (row["status"], row["requested_by"], row["issue_invoice"]) == (
        "completed",
        fam.owner.user_id,
        True,
    )
    assert (row["requested_at"], row["completed_at"]) == (
        requested.occurred_at,
        completed.occurred_at,
    )
    assert row["per_user_amounts"] == completed.payload["per_user_amounts"]
    assert row["transfers"] == completed.payload["transfers"]
    assert {t["currency"] for t in row["transfers"]} == {"EUR", "USD"}
    assert (row["conversion"], row["converted"], row["adjustments"]) == (None, None, [])
    assert (row["failure_code"], row["failure_reason"]) == (None, None)


async def test_a_converted_split_keeps_the_rates_and_converted_balances(
    application: Application,
) -> None:
    driver = Driver(application.bus, await family(application.bus, "Ann", "Ben"))
    await driver.spend(3_000, date(2026, 1, 4))
    await driver.spend(1_000, date(2026, 1, 9), currency="USD")
    split_id = await driver.split(
        JANUARY, conversion=ConversionInput(currency="EUR", rates=(("USD", "0.9"),))
    )
    await project_everything(application.engine)

    row = await split_row(application, split_id)
    assert row["conversion"] == {"currency": "EUR", "rates": [{"currency": "USD", "rate": "0.9"}]}
    assert row["converted"]["currency"] == "EUR"
    assert sum(b["net_cents"] for b in row["converted"]["per_user_amounts"]) == 0
    assert {t["currency"] for t in row["transfers"]} == {"EUR"}


async def test_a_split_without_the_rate_it_needs_fails_visibly(
    application: Application,
) -> None:
    driver = Driver(application.bus, await family(application.bus, "Ann", "Ben"))
    await driver.spend(1_000, date(2026, 1, 9), currency="USD")
    failed = await driver.split(
        JANUARY, conversion=ConversionInput(currency="EUR", rates=(("GBP", "1.2"),))
    )
    retried = await driver.split(JANUARY)
    await project_everything(application.engine)

    row = await split_row(application, failed)
    assert (row["status"], row["failure_code"]) == ("failed", "RATE_MISSING")
    assert "USD" in row["failure_reason"]
    assert row["completed_at"] is not None
    assert (row["per_user_amounts"], row["transfers"]) == (None, None)
    assert (await split_row(application, retried))["status"] == "completed"

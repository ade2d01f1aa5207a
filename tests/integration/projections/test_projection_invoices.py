"""``read.invoices``: issued invoices, then paid or voided."""

from __future__ import annotations

from datetime import date
from typing import Any

from aequatio.application.commands import ConversionInput
from aequatio.bootstrap import Application
from aequatio.persistence.event_store import read_stream
from aequatio.projections.tables import invoices
from tests.support.family import family
from tests.support.history import (
    JANUARY,
    Driver,
    project_everything,
    rows,
)


async def invoice_rows(application: Application) -> list[dict[str, Any]]:
    async with application.engine.connect() as connection:
        listed = await rows(connection, invoices)
    return sorted(listed, key=lambda row: row["issued_at"])


async def test_an_issued_invoice_is_marked_paid(application: Application) -> None:
    fam = await family(application.bus, "Ann", "Ben")
    driver = Driver(application.bus, fam)
    await driver.spend(3_000, date(2026, 1, 4))
    await driver.spend(1_000, date(2026, 1, 9), currency="USD")
    invoice_id = await driver.close(JANUARY)
    await project_everything(application.engine)
    assert [row["status"] for row in await invoice_rows(application)] == ["issued"]

    await driver.pay(invoice_id)
    await project_everything(application.engine)

    (row,) = await invoice_rows(application)
    async with application.engine.connect() as connection:
        created, paid = await read_stream(connection, invoice_id)
    assert (row["invoice_id"], row["group_id"], row["period_start"], row["period_end"]) == (
        invoice_id,
        fam.group_id,
        *JANUARY,
    )
    assert str(row["split_id"]) == created.payload["split_id"]
    assert row["total"] == [
        {"currency": "EUR", "amount_cents": 3_000},
        {"currency": "USD", "amount_cents": 1_000},
    ]
    assert row["lines"] == created.payload["lines"]
    assert row["transfers"] == created.payload["transfers"]
    assert (row["currency"], row["adjustments"]) == (None, [])
    assert (row["status"], row["issued_by"], row["issued_at"], row["paid_at"]) == (
        "paid",
        fam.owner.user_id,
        created.occurred_at,
        paid.occurred_at,
    )
    assert (row["voided_at"], row["void_reason"]) == (None, None)


async def test_a_voided_invoice_stays_listed_next_to_the_one_that_replaces_it(
    application: Application,
) -> None:
    driver = Driver(application.bus, await family(application.bus, "Ann", "Ben"))
    await driver.spend(3_000, date(2026, 1, 4))
    voided = await driver.close(JANUARY)
    await driver.void(voided, "forgot the rent")
    await driver.spend(50_000, date(2026, 1, 1), description="Rent")
    await driver.spend(1_000, date(2026, 1, 9), currency="USD")
    await driver.split(JANUARY, conversion=ConversionInput(currency="EUR", rates=(("USD", "0.9"),)))
    replacement = await driver.invoice(JANUARY)
    await project_everything(application.engine)

    first, second = await invoice_rows(application)
    assert (first["invoice_id"], first["status"], first["void_reason"]) == (
        voided,
        "voided",
        "forgot the rent",
    )
    assert first["voided_at"] is not None
    assert first["paid_at"] is None
    assert (second["invoice_id"], second["status"], second["currency"]) == (
        replacement,
        "issued",
        "EUR",
    )
    assert second["total"] == [{"currency": "EUR", "amount_cents": 53_900}]

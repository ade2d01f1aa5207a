"""The split and invoice workflows end to end on the real database and broker."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from sqlalchemy import select

from aequatio.application import commands
from aequatio.bootstrap import Application
from aequatio.outbox.transport import Transport
from aequatio.persistence.tables import invoices, saga_states, splits
from aequatio.workers import Role
from tests.support.family import family
from tests.support.readside import read_side
from tests.support.recording import polled

ALL = (Role.DISPATCHER, Role.PROJECTIONS, Role.SAGAS)


def invoice_january(group_id: UUID) -> commands.CreateInvoice:
    return commands.CreateInvoice(
        group_id=group_id, period_start=date(2026, 1, 1), period_end=date(2026, 2, 1)
    )


async def saga_status(application: Application, saga: str) -> dict[str, str]:
    async with application.engine.connect() as connection:
        rows = await connection.execute(select(saga_states).where(saga_states.c.saga == saga))
        return {row.key: row.status for row in rows}


async def test_create_invoice_requests_a_split_and_the_sagas_issue_the_invoice(
    application: Application, transport: Transport
) -> None:
    fam = await family(application.bus, "Ann", "Ben")
    async with read_side(application.engine, transport, ALL, bus=application.bus):
        await application.bus.handle(
            commands.AddExpense(
                group_id=fam.group_id,
                amount_cents=3_000,
                currency="EUR",
                description="Market",
                incurred_on=date(2026, 1, 5),
            ),
            fam.owner.principal,
        )
        asked = await application.bus.handle(invoice_january(fam.group_id), fam.others[0].principal)
        assert asked.aggregate_type == "split"

        async def issued() -> list[Any]:
            async with application.engine.connect() as connection:
                return list((await connection.execute(select(invoices))).all())

        (invoice,) = await polled(issued)
        again = await application.bus.handle(invoice_january(fam.group_id), fam.owner.principal)
        statuses = await saga_status(application, "invoice")

    assert (again.aggregate_type, again.event_ids) == ("invoice", ())
    assert invoice.totals == [{"currency": "EUR", "amount_cents": 3_000}]
    assert list(statuses.values()) == ["issued"]
    async with application.engine.connect() as connection:
        (split,) = (await connection.execute(select(splits))).all()
    assert split.status == "completed"
    assert await saga_status(application, "split") == {str(split.id): "completed"}

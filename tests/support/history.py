"""Driving commands and feeding the stored events to projections, for the projection tests.

Events are read back from ``events_store`` (as the outbox would publish them) and applied with
the real ``apply_event``, each delivery in its own transaction like a live consumer's.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

from sqlalchemy import Table, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from aequatio.application import commands
from aequatio.application.bus import MessageBus
from aequatio.application.context import Principal
from aequatio.domain.sharing import Payer, SplitMode, SplitRule
from aequatio.events.catalog import EVENTS
from aequatio.events.envelope import Envelope
from aequatio.persistence.event_store import envelope_of
from aequatio.persistence.tables import events_store
from aequatio.projections.base import Projection
from aequatio.projections.catalog import PROJECTIONS
from aequatio.projections.runner import apply_all, apply_event
from aequatio.projections.tables import TRACKING_TABLES
from tests.support.family import Family, Member, family

SAGA = Principal.system_process("saga.split")
JANUARY = (date(2026, 1, 1), date(2026, 2, 1))
FEBRUARY = (date(2026, 2, 1), date(2026, 3, 1))
MARCH = (date(2026, 3, 1), date(2026, 4, 1))

Period = tuple[date, date]
#: Table name -> its rows (tuples) ordered by primary key.
Snapshot = dict[str, list[tuple[Any, ...]]]


@dataclass(frozen=True, slots=True)
class Stored:
    """An event as the event store holds it: its global position and its envelope."""

    position: int
    envelope: Envelope


# -- commands ---------------------------------------------------------------------------------


@dataclass
class Driver:
    """Issues a family's commands and remembers each expense's version for the next change."""

    bus: MessageBus
    family: Family
    versions: dict[UUID, int] = field(default_factory=dict)

    @property
    def owner(self) -> Member:
        return self.family.owner

    async def spend(
        self,
        amount: int,
        day: date,
        *,
        by: Member | None = None,
        currency: str = "EUR",
        description: str = "shopping",
        category: str | None = None,
        payers: tuple[Payer, ...] | None = None,
        split: SplitRule | None = None,
    ) -> UUID:
        command = commands.AddExpense(
            group_id=self.family.group_id,
            amount_cents=amount,
            currency=currency,
            description=description,
            incurred_on=day,
            category=category,
            payers=payers,
            split=split or SplitRule(SplitMode.EQUAL),
        )
        result = await self.bus.handle(command, (by or self.owner).principal)
        self.versions[result.aggregate_id] = result.aggregate_version
        return result.aggregate_id

    async def amend(
        self,
        expense_id: UUID,
        *,
        by: Member | None = None,
        amount: int | None = None,
        currency: str | None = None,
        description: str | None = None,
        category: str | None = None,
        day: date | None = None,
        payers: tuple[Payer, ...] | None = None,
        split: SplitRule | None = None,
    ) -> None:
        result = await self.bus.handle(
            commands.AmendExpense(
                expense_id=expense_id,
                expected_version=self.versions[expense_id],
                amount_cents=amount,
                currency=currency,
                description=description,
                category=category,
                incurred_on=day,
                payers=payers,
                split=split,
            ),
            (by or self.owner).principal,
        )
        self.versions[expense_id] = result.aggregate_version

    async def delete(self, expense_id: UUID, *, by: Member | None = None) -> None:
        await self.bus.handle(
            commands.DeleteExpense(
                expense_id=expense_id, expected_version=self.versions[expense_id]
            ),
            (by or self.owner).principal,
        )

    async def split(
        self,
        period: Period,
        *,
        conversion: commands.ConversionInput | None = None,
        issue_invoice: bool = False,
    ) -> UUID:
        """Request the period's split and let the saga compute it (it completes or fails)."""
        requested = await self.bus.handle(
            commands.RequestSplit(
                group_id=self.family.group_id,
                period_start=period[0],
                period_end=period[1],
                conversion=conversion,
                issue_invoice=issue_invoice,
            ),
            self.owner.principal,
        )
        await self.bus.handle(commands.CompleteSplit(split_id=requested.aggregate_id), SAGA)
        return requested.aggregate_id

    async def invoice(self, period: Period) -> UUID:
        result = await self.bus.handle(
            commands.CreateInvoice(
                group_id=self.family.group_id, period_start=period[0], period_end=period[1]
            ),
            self.owner.principal,
        )
        return result.aggregate_id

    async def close(self, period: Period) -> UUID:
        """Split the period and invoice it: its months are closed afterwards."""
        await self.split(period)
        return await self.invoice(period)

    async def pay(self, invoice_id: UUID) -> None:
        await self.bus.handle(commands.MarkInvoicePaid(invoice_id=invoice_id), self.owner.principal)

    async def void(self, invoice_id: UUID, reason: str | None = None) -> None:
        await self.bus.handle(
            commands.VoidInvoice(invoice_id=invoice_id, reason=reason), self.owner.principal
        )

    async def remove(self, member: Member, left_on: date) -> None:
        await self.bus.handle(
            commands.RemoveMember(
                group_id=self.family.group_id, user_id=member.user_id, left_on=left_on
            ),
            self.owner.principal,
        )


@dataclass(frozen=True)
class History:
    """What ``rich_history`` did, by name."""

    driver: Driver
    expenses: dict[str, UUID]
    invoices: dict[str, UUID]
    failed_split: UUID


async def rich_history(bus: MessageBus) -> History:
    """Four members, two currencies, every split mode, several payers, amendments and
    deletions, January closed and then changed late, a failed split, a paid and a voided
    invoice, and a member who leaves."""
    driver = Driver(bus, await family(bus, "Ann", "Ben", "Cai", "Dee"))
    ann, ben, cai, dee = driver.family.members
    a, b, c, d = ann.user_id, ben.user_id, cai.user_id, dee.user_id
    spent: dict[str, UUID] = {}

    spent["groceries"] = await driver.spend(9_000, date(2026, 1, 5), description="Groceries")
    spent["dinner"] = await driver.spend(
        10_001,
        date(2026, 1, 10),
        description="Dinner",
        payers=(Payer(a, 6_001), Payer(b, 4_000)),
        split=SplitRule(SplitMode.SHARES, weights=((a, 2), (b, 1), (c, 1))),
    )
    spent["tickets"] = await driver.spend(
        3_000,
        date(2026, 1, 12),
        currency="USD",
        description="Tickets",
        payers=(Payer(c, 3_000),),
        split=SplitRule(SplitMode.EXACT, weights=((a, 1_000), (b, 500), (c, 1_500))),
    )
    spent["fuel"] = await driver.spend(
        2_500,
        date(2026, 1, 20),
        by=dee,
        description="Fuel",
        split=SplitRule(SplitMode.PERCENT, weights=((a, 5_000), (d, 5_000))),
    )
    spent["souvenirs"] = await driver.spend(1_500, date(2026, 1, 22), currency="USD")
    spent["typo"] = await driver.spend(700, date(2026, 1, 21), description="typo")
    await driver.amend(spent["groceries"], amount=12_000)
    await driver.amend(spent["souvenirs"], currency="EUR", category="gifts")
    await driver.amend(spent["dinner"], day=date(2026, 2, 3))
    await driver.amend(spent["fuel"], by=dee, payers=(Payer(d, 1_500), Payer(a, 1_000)))
    await driver.delete(spent["typo"])
    january = await driver.close(JANUARY)

    # January is closed: these are booked into February as adjustments.
    spent["late"] = await driver.spend(4_000, date(2026, 1, 25), by=ben, description="Late bill")
    await driver.amend(spent["groceries"], amount=15_000)
    await driver.delete(spent["fuel"], by=dee)

    spent["museum"] = await driver.spend(
        2_000,
        date(2026, 2, 14),
        currency="USD",
        split=SplitRule(SplitMode.EQUAL, participants=(a, b)),
    )
    await driver.remove(cai, date(2026, 2, 15))
    spent["pizza"] = await driver.spend(1_200, date(2026, 2, 20), description="Pizza")
    failed = await driver.split(
        FEBRUARY, conversion=commands.ConversionInput(currency="EUR", rates=(("GBP", "1.2"),))
    )
    await driver.split(
        FEBRUARY,
        conversion=commands.ConversionInput(currency="EUR", rates=(("USD", "0.9"),)),
        issue_invoice=True,
    )
    february = await driver.invoice(FEBRUARY)
    await driver.pay(february)

    spent["rent"] = await driver.spend(50_000, date(2026, 3, 1), description="Rent")
    march = await driver.close(MARCH)
    await driver.void(march, "wrong rent")
    await driver.amend(spent["rent"], amount=48_000)
    return History(
        driver,
        spent,
        {"january": january, "february": february, "march": march},
        failed,
    )


# -- projecting -------------------------------------------------------------------------------


async def stored_events(engine: AsyncEngine) -> list[Stored]:
    """Every stored event in event-store order."""
    async with engine.connect() as connection:
        rows = await connection.execute(select(events_store).order_by(events_store.c.position))
        return [Stored(row.position, envelope_of(row)) for row in rows]


def listens_to(projection: Projection, envelope: Envelope) -> bool:
    return envelope.event_type in projection.event_types(EVENTS)


async def project(
    engine: AsyncEngine,
    events: Iterable[Stored],
    projections: Sequence[Projection] = PROJECTIONS,
) -> int:
    """Deliver each event to every projection that listens to it; returns how many applied."""
    applied = 0
    for stored in events:
        for projection in projections:
            if not listens_to(projection, stored.envelope):
                continue
            async with engine.begin() as connection:
                applied += await apply_event(
                    connection, projection, stored.envelope, EVENTS, position=stored.position
                )
    return applied


async def project_in_batches(
    engine: AsyncEngine,
    events: Sequence[Stored],
    rng: random.Random,
    projections: Sequence[Projection] = PROJECTIONS,
    *,
    largest: int = 40,
) -> int:
    """Deliver the events cut into batches of random sizes, each batch applied to each
    projection in one transaction as a live consumer applies what arrived together."""
    applied, start = 0, 0
    while start < len(events):
        batch = events[start : start + rng.randint(1, largest)]
        start += len(batch)
        for projection in projections:
            delivered = [stored for stored in batch if listens_to(projection, stored.envelope)]
            if not delivered:
                continue
            async with engine.begin() as connection:
                applied += sum(
                    await apply_all(
                        connection,
                        projection.consumer,
                        [stored.envelope for stored in delivered],
                        EVENTS,
                        projection.apply_many,
                        positions=[stored.position for stored in delivered],
                    )
                )
    return applied


async def project_everything(engine: AsyncEngine) -> list[Stored]:
    """Apply the whole event store in order to every projection; returns the events."""
    events = await stored_events(engine)
    await project(engine, events)
    return events


async def rows(connection: AsyncConnection, table: Table) -> list[dict[str, Any]]:
    """A read table's rows as dicts, ordered by primary key."""
    result = await connection.execute(select(table).order_by(*table.primary_key.columns))
    return [dict(row._mapping) for row in result]


async def snapshot(
    engine: AsyncEngine, projections: Sequence[Projection] = PROJECTIONS
) -> Snapshot:
    """The contents of every read table the projections own (tracking tables excluded)."""
    async with engine.connect() as connection:
        return {
            table.name: [tuple(row.values()) for row in await rows(connection, table)]
            for projection in projections
            for table in projection.tables
        }


async def reset(engine: AsyncEngine, projections: Sequence[Projection] = PROJECTIONS) -> None:
    """Empty the projections' tables and their tracking rows, as before the first event."""
    async with engine.begin() as connection:
        for projection in projections:
            for table in projection.tables:
                await connection.execute(delete(table))
            for tracking in TRACKING_TABLES:
                await connection.execute(
                    delete(tracking).where(tracking.c.consumer == projection.consumer)
                )


# -- delivery orders --------------------------------------------------------------------------


def by_aggregate(events: Iterable[Stored]) -> dict[UUID, list[Stored]]:
    streams: dict[UUID, list[Stored]] = defaultdict(list)
    for stored in events:
        streams[stored.envelope.aggregate_id].append(stored)
    for stream in streams.values():
        stream.sort(key=lambda stored: stored.envelope.aggregate_version)
    return dict(streams)


def interleaving(
    events: Sequence[Stored], rng: random.Random, *, duplicates: float = 0.0
) -> list[Stored]:
    """A random delivery order that keeps each aggregate's own order but mixes aggregates.

    With ``duplicates`` > 0, that fraction of deliveries is followed by a redelivery of an
    event delivered earlier (a broker's at-least-once delivery).
    """
    streams = {key: list(stream) for key, stream in by_aggregate(events).items()}
    order: list[Stored] = []
    while streams:
        key = rng.choice(sorted(streams, key=str))
        order.append(streams[key].pop(0))
        if not streams[key]:
            del streams[key]
        if rng.random() < duplicates:
            order.append(rng.choice(order))
    return order


def with_gaps(events: Sequence[Stored]) -> list[Stored]:
    """In-order delivery except that each stream's version 3 comes before its version 2."""
    order = list(events)
    for stream in by_aggregate(events).values():
        if len(stream) >= 3:
            second, third = order.index(stream[1]), order.index(stream[2])
            order[second], order[third] = order[third], order[second]
    return order

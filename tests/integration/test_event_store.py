"""The event store is append-only and ordered; the outbox is filled and the dispatcher woken."""

from __future__ import annotations

import asyncio
from datetime import date

import asyncpg
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from aequatio.application import commands
from aequatio.bootstrap import Application
from aequatio.events.catalog import EVENTS
from aequatio.persistence.event_store import read_stream
from aequatio.persistence.tables import OUTBOX_CHANNEL, events_outbox, events_store
from tests.support.family import family


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE events_store SET actor = 'mallory'",
        "DELETE FROM events_store",
        "TRUNCATE events_store CASCADE",
    ],
)
async def test_history_cannot_be_rewritten(application: Application, statement: str) -> None:
    await family(application.bus, "Ann")
    async with application.engine.connect() as connection:
        with pytest.raises(DBAPIError, match="append-only"):
            await connection.execute(text(statement))


async def test_every_event_is_enqueued_in_the_outbox_in_order(application: Application) -> None:
    await family(application.bus, "Ann", "Ben")
    async with application.engine.connect() as connection:
        stored = (
            (
                await connection.execute(
                    select(events_store.c.position).order_by(events_store.c.position)
                )
            )
            .scalars()
            .all()
        )
        queued = (
            (
                await connection.execute(
                    select(events_outbox.c.position)
                    .where(events_outbox.c.published_at.is_(None))
                    .order_by(events_outbox.c.position)
                )
            )
            .scalars()
            .all()
        )
    assert len(stored) == 4  # two registrations, the group, one member added
    assert queued == stored


async def test_committing_a_command_notifies_the_dispatcher(
    application: Application, database_url: str
) -> None:
    fam = await family(application.bus, "Ann", "Ben")
    received: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    await listener.add_listener(OUTBOX_CHANNEL, lambda *args: received.put_nowait(args[2]))
    try:
        await application.bus.handle(
            commands.AddExpense(
                group_id=fam.group_id,
                amount_cents=500,
                currency="EUR",
                description="bread",
                incurred_on=date(2026, 1, 2),
            ),
            fam.owner.principal,
        )
        assert await asyncio.wait_for(received.get(), timeout=5) == OUTBOX_CHANNEL
    finally:
        await listener.close()


async def test_stored_envelopes_decode_to_their_payload_models(application: Application) -> None:
    fam = await family(application.bus, "Ann", "Ben")
    async with application.engine.connect() as connection:
        stream = await read_stream(connection, fam.group_id)
    assert [envelope.event_type for envelope in stream] == ["group.created", "group.member_added"]
    assert [envelope.aggregate_version for envelope in stream] == [1, 2]
    payloads = [EVENTS.payload_of(envelope) for envelope in stream]
    assert payloads[1].model_dump()["user_id"] == fam.others[0].user_id
    assert all(envelope.actor == fam.owner.principal.subject for envelope in stream)

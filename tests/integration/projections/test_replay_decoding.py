"""A replay reads each event of its pages as one JSON text (``ROW_JSON``): the envelope the row
gives, and so the payload ``registry.payload_of`` gives, and the same refusal of an invalid
stored payload."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from aequatio.bootstrap import Application
from aequatio.events.catalog import EVENTS
from aequatio.persistence.event_store import ROW_JSON, append, envelope_of, envelope_of_json
from aequatio.persistence.tables import events_store
from aequatio.projections.catalog import PROJECTIONS, by_name
from aequatio.projections.replay import replay
from aequatio.projections.tables import balance_postings, monthly_balances
from tests.support.envelopes import an_envelope
from tests.support.history import project_everything, rich_history, snapshot


async def test_a_row_as_json_gives_the_envelope_its_row_gives(application: Application) -> None:
    """What the dispatcher claims and a replay reads (``ROW_JSON``) decodes to the envelope of
    the row."""
    await rich_history(application.bus)
    async with application.engine.connect() as connection:
        rows = (
            await connection.execute(
                select(events_store, ROW_JSON).order_by(events_store.c.position)
            )
        ).all()

    assert len({row.event_type for row in rows}) > 5
    for row in rows:
        assert envelope_of_json(row.row_json) == envelope_of(row)


async def test_replays_in_pages_of_several_event_types_equal_the_live_tables(
    application: Application, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small pages: every page boundary, merged across event types, in position order."""
    await rich_history(application.bus)
    await project_everything(application.engine)
    live = await snapshot(application.engine)

    monkeypatch.setattr("aequatio.projections.replay.BATCH", 7)
    for projection in PROJECTIONS:
        report = await replay(application.engine, projection, EVENTS)
        assert report.caught_up == 0

    assert await snapshot(application.engine) == live


async def test_a_replay_refuses_an_invalid_stored_payload_as_before(
    application: Application,
) -> None:
    """The payload is refused with the error ``registry.payload_of`` gives (nothing swapped)."""
    await rich_history(application.bus)
    await project_everything(application.engine)
    balances = by_name("balances")
    live = await snapshot(application.engine, [balances])
    invalid = an_envelope("expense.created", {"expense_id": "not a uuid", "amount_cents": "x"})
    async with application.engine.begin() as connection:
        await append(connection, [invalid])
        row = (
            await connection.execute(
                select(events_store).where(events_store.c.event_id == invalid.event_id)
            )
        ).one()

    with pytest.raises(ValidationError) as before:
        EVENTS.payload_of(envelope_of(row))

    with pytest.raises(ValidationError) as replayed:
        await replay(application.engine, balances, EVENTS)
    assert replayed.value.errors() == before.value.errors()
    assert await snapshot(application.engine, [balances]) == live
    async with application.engine.connect() as connection:
        for table in (monthly_balances, balance_postings):
            assert await connection.scalar(select(func.count()).select_from(table))

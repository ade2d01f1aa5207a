"""Events in the minimal v1 "seed" shape (optional fields left out) still project sensibly.

aequatio always writes the full payloads, but the v1 contract lets a producer omit everything
after the seed fields; the projections then fall back instead of failing.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

from aequatio.bootstrap import Application
from aequatio.events.catalog import EVENTS
from aequatio.events.envelope import Envelope
from aequatio.persistence.event_store import append
from aequatio.projections.tables import (
    activity,
    expenses,
    group_members,
    group_totals,
    monthly_balances,
)
from tests.support.envelopes import an_envelope
from tests.support.history import project_everything, rows

AT = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


def seed_event(
    event_type: str, aggregate_id: UUID, version: int, payload: dict[str, Any]
) -> Envelope:
    return an_envelope(
        event_type,
        payload,
        schema_id=EVENTS.model(event_type, 1).schema_id(),
        aggregate_id=aggregate_id,
        aggregate_version=version,
        occurred_at=AT,
        actor="seed-producer",
    )


async def test_seed_shaped_events_fall_back_on_what_they_carry(application: Application) -> None:
    group_id, expense_id, ann = uuid4(), uuid4(), uuid4()
    events = [
        seed_event(
            "group.created",
            group_id,
            1,
            {
                "group_id": str(group_id),
                "name": "Seeds",
                "owner_id": str(ann),
                "members": [{"user_id": str(ann), "role": "owner"}],
            },
        ),
        seed_event(
            "expense.created",
            expense_id,
            1,
            {
                "expense_id": str(expense_id),
                "group_id": str(group_id),
                "amount_cents": 1_000,
                "currency": "EUR",
                "created_by": str(ann),
                "description": "Bread",
            },
        ),
        seed_event(
            "expense.amended",
            expense_id,
            2,
            {
                "expense_id": str(expense_id),
                "changes": {
                    "amount_cents": {"before": 1_000, "after": 1_500},
                    "currency": {"before": "EUR", "after": "USD"},
                    "incurred_on": {"before": "2026-03-04", "after": "2026-02-27"},
                },
                "amended_by": str(ann),
                "amended_at": AT.isoformat(),
            },
        ),
    ]
    async with application.engine.begin() as connection:
        await append(connection, events)

    await project_everything(application.engine)

    async with application.engine.connect() as connection:
        (member,) = await rows(connection, group_members)
        (expense,) = await rows(connection, expenses)
        totals = await rows(connection, group_totals)
        balances = await rows(connection, monthly_balances)
        timeline = await rows(connection, activity)
    assert (member["joined_on"], member["weight"]) == (date(2026, 3, 4), 1)
    assert (expense["amount_cents"], expense["currency"], expense["incurred_on"]) == (
        1_500,
        "USD",
        date(2026, 2, 27),
    )
    assert (expense["payers"], expense["postings"], expense["version"]) == (None, [], 2)
    assert [(t["currency"], t["total_cents"], t["expense_count"]) for t in totals] == [
        ("USD", 1_500, 1)
    ]
    assert balances == [], "without postings an expense books nothing"
    assert {entry["group_id"] for entry in timeline} == {group_id}
    amended = next(e for e in timeline if e["event_type"] == "expense.amended")
    assert amended["summary"].endswith(
        f"amended {expense_id.hex[:8]}: amount_cents, currency, incurred_on"
    )

"""Delivery order does not matter: any interleaving of aggregates, redeliveries and gaps give
the same read tables as applying the event store in order.

Events of one aggregate keep their order in the interleavings (as the broker delivers them
to a single consumer); the gap tests break even that and rely on the runner filling gaps from
the event store.
"""

from __future__ import annotations

import random

from aequatio.bootstrap import Application
from tests.support.history import (
    Snapshot,
    Stored,
    interleaving,
    project,
    reset,
    rich_history,
    snapshot,
    stored_events,
    with_gaps,
)

INTERLEAVINGS = 20


async def in_order(application: Application) -> tuple[list[Stored], Snapshot]:
    await rich_history(application.bus)
    events = await stored_events(application.engine)
    await project(application.engine, events)
    expected = await snapshot(application.engine)
    assert all(expected.values()), "every read table has rows in the rich history"
    return events, expected


async def replayed(application: Application, order: list[Stored]) -> Snapshot:
    await reset(application.engine)
    await project(application.engine, order)
    return await snapshot(application.engine)


async def test_random_interleavings_with_redeliveries_give_the_in_order_tables(
    application: Application,
) -> None:
    events, expected = await in_order(application)
    for seed in range(INTERLEAVINGS):
        order = interleaving(events, random.Random(seed), duplicates=0.2)
        assert len(order) > len(events)
        assert await replayed(application, order) == expected, f"seed {seed}"


async def test_redelivering_everything_changes_nothing(application: Application) -> None:
    events, expected = await in_order(application)
    assert await project(application.engine, events) == 0
    assert await snapshot(application.engine) == expected


async def test_a_later_version_delivered_first_fills_the_gap_from_the_event_store(
    application: Application,
) -> None:
    events, expected = await in_order(application)
    order = with_gaps(events)
    assert order != events
    assert await replayed(application, order) == expected


async def test_even_a_fully_shuffled_delivery_gives_the_in_order_tables(
    application: Application,
) -> None:
    events, expected = await in_order(application)
    for seed in range(3):
        order = list(events)
        random.Random(seed).shuffle(order)
        assert await replayed(application, order) == expected, f"seed {seed}"

"""Delivery order does not matter: any interleaving of aggregates, redeliveries and gaps give
the same read tables as applying the event store in order.

Events of one aggregate keep their order in the interleavings (as the broker delivers them
to a single consumer); the gap tests break even that and rely on the runner filling gaps from
the event store.
"""

from __future__ import annotations

import random

from aequatio.bootstrap import Application
from aequatio.projections.catalog import PROJECTIONS
from tests.support.history import (
    Snapshot,
    Stored,
    interleaving,
    listens_to,
    project,
    project_in_batches,
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


async def test_batches_of_any_size_give_the_in_order_tables(application: Application) -> None:
    """Live consumers apply what arrived together in one transaction (and a replay a page at a
    time): whatever the cut, with redeliveries inside one batch and gaps across them, the
    tables are those of applying one event at a time."""
    events, expected = await in_order(application)
    deliveries = sum(
        1
        for stored in events
        for projection in PROJECTIONS
        if listens_to(projection, stored.envelope)
    )
    for seed in range(8):
        rng = random.Random(seed)
        order = interleaving(events, rng, duplicates=0.2) if seed % 2 else list(events)
        shuffled = seed % 4 == 3
        if shuffled:
            rng.shuffle(order)
        await reset(application.engine)
        applied = await project_in_batches(application.engine, order, rng)
        assert await snapshot(application.engine) == expected, f"seed {seed}"
        if not shuffled:  # (a gap filled from the store is applied, but not as a delivery)
            assert applied == deliveries, f"seed {seed}: each event applied once"

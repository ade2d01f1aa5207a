"""Reading your own writes: wait, bounded, until the projections a query reads applied the
events a mutation returned; past the bound answer anyway and say the answer may be stale."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from uuid import UUID

from aequatio.events.catalog import EVENTS
from aequatio.events.registry import UnknownEvent
from aequatio.graphql.ids import decode_event
from aequatio.graphql.read_store import ReadStore
from aequatio.projections.base import Projection
from aequatio.projections.catalog import by_name

#: Waits between checks: quick at first, then every 20 ms (a projection applies within tens of
#: milliseconds; at 50 ms a push waited up to 50 ms longer than its projection took). One
#: check is one indexed lookup; a live push polls once per event per process, not per
#: subscriber.
POLL_SECONDS = (0.005, 0.01, 0.02)


def _listens(projection: Projection, event_type: str) -> bool:
    try:
        return event_type in projection.event_types(EVENTS)
    except UnknownEvent:
        return False


async def wait_for_projections(
    store: ReadStore,
    event_ids: Sequence[str],
    projection_names: Iterable[str],
    *,
    within: float,
    field: str = "consistentWith",
) -> bool:
    """True once every named projection that listens to each event applied it; False on timeout."""
    events = [
        decode_event(opaque, field=f"{field}.{index}") for index, opaque in enumerate(event_ids)
    ]
    return await wait_for_events(store, events, projection_names, within=within)


async def wait_for_events(
    store: ReadStore,
    events: Sequence[tuple[str, UUID]],
    projection_names: Iterable[str],
    *,
    within: float,
) -> bool:
    """Like ``wait_for_projections``, for ``(event_type, event_id)`` pairs."""
    projections = [by_name(name) for name in projection_names]
    wanted: set[tuple[str, UUID]] = {
        (projection.consumer, event_id)
        for event_type, event_id in events
        for projection in projections
        if _listens(projection, event_type)
    }
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    attempt = 0
    while wanted:
        wanted -= await store.applied(wanted)
        if not wanted:
            return True
        remaining = deadline - loop.time()
        if remaining <= 0:
            return False
        await asyncio.sleep(min(POLL_SECONDS[min(attempt, len(POLL_SECONDS) - 1)], remaining))
        attempt += 1
    return True

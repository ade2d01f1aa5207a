"""Live subscriptions: ``splitCompleted``, ``invoiceCreated`` and ``groupActivity`` of a group.

Membership is checked when subscribing (a non-member gets an error and no events). Each event
is pushed once the projection the pushed object comes from has applied it, so what arrives
equals what a query would return.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from functools import partial
from typing import Any, TypeVar
from uuid import UUID

import strawberry
from opentelemetry.trace import SpanKind
from sqlalchemy import Row

from aequatio.events.catalog import EVENTS
from aequatio.events.envelope import Envelope
from aequatio.graphql.common import uuid_of
from aequatio.graphql.consistency import wait_for_events
from aequatio.graphql.context import Info
from aequatio.graphql.features.activity import ActivityEntry
from aequatio.graphql.features.invoices import Invoice
from aequatio.graphql.features.splits import Split
from aequatio.graphql.live import SLOW_CONSUMER, Arrival, SlowConsumer
from aequatio.graphql.read_store import ReadStore
from aequatio.graphql.shared_execution import shared
from aequatio.observability.tracing import span
from aequatio.projections.catalog import by_name

log = logging.getLogger(__name__)

#: How long a push waits for its projection before sending what the read model holds.
PUSH_WAIT_SECONDS = 10.0

T = TypeVar("T")

Fetch = Callable[[Envelope], Awaitable[Row[Any] | None]]


async def _prepare_push(
    store: ReadStore, arrival: Arrival, field: str, projection: str, fetch: Fetch
) -> Row[Any] | None:
    """The row to push for an event, once ``projection`` applied it (in the event's trace)."""
    envelope = arrival.envelope
    with span(
        f"push {field}",
        parent=arrival.traceparent,
        kind=SpanKind.PRODUCER,
        attributes={"messaging.message.id": str(envelope.event_id)},
    ):
        event = (envelope.event_type, envelope.event_id)
        applied = await wait_for_events(store, [event], [projection], within=PUSH_WAIT_SECONDS)
        if not applied:
            log.warning("pushing %s before %s applied it", envelope.event_id, projection)
        return await fetch(envelope)


async def follow(
    info: Info,
    group_id: UUID,
    event_types: set[str],
    projection: str,
    fetch: Fetch,
    present: Callable[[Row[Any]], T],
) -> AsyncGenerator[T, None]:
    """``present(row)`` for each row of ``projection`` the group's events of ``event_types``
    produce, as they happen. The object and its response are made once for all the
    subscribers an event reaches (``shared_execution``)."""
    context = info.context
    await context.require_member(group_id)
    feed = context.require_live()
    field = info.field_name
    try:
        async with feed.subscribe(group_id, event_types) as subscription:
            async for arrival in subscription:
                push = partial(_prepare_push, context.store, arrival, field, projection, fetch)
                value = await arrival.once(field, partial(_presented, push, present))
                if value is not None:
                    yield shared(value, arrival)
    except SlowConsumer:
        await context.close_connection(SLOW_CONSUMER, "too slow: events were dropped")


async def _presented(
    push: Callable[[], Awaitable[Row[Any] | None]], present: Callable[[Row[Any]], T]
) -> T | None:
    row = await push()
    return None if row is None else present(row)


@strawberry.type
class LiveSubscription:
    @strawberry.subscription(description="Each completed split of the group.")
    async def split_completed(
        self, info: Info, group_id: strawberry.ID
    ) -> AsyncGenerator[Split, None]:
        group = uuid_of(group_id, "Group", field="groupId")

        async def fetch(envelope: Envelope) -> Row[Any] | None:
            rows = await info.context.store.splits_by_id([envelope.aggregate_id])
            return rows[0] if rows else None

        async for split in follow(info, group, {"split.completed"}, "splits", fetch, Split.of):
            yield split

    @strawberry.subscription(description="Each invoice issued for the group.")
    async def invoice_created(
        self, info: Info, group_id: strawberry.ID
    ) -> AsyncGenerator[Invoice, None]:
        group = uuid_of(group_id, "Group", field="groupId")

        async def fetch(envelope: Envelope) -> Row[Any] | None:
            rows = await info.context.store.invoices_by_id([envelope.aggregate_id])
            return rows[0] if rows else None

        async for invoice in follow(
            info, group, {"invoice.created"}, "invoices", fetch, Invoice.of
        ):
            yield invoice

    @strawberry.subscription(
        description="Every event of the group, as its timeline entry, once projected."
    )
    async def group_activity(
        self, info: Info, group_id: strawberry.ID
    ) -> AsyncGenerator[ActivityEntry, None]:
        group = uuid_of(group_id, "Group", field="groupId")
        event_types = set(by_name("activity").event_types(EVENTS))

        async def fetch(envelope: Envelope) -> Row[Any] | None:
            rows = await info.context.store.activity_by_id([envelope.event_id])
            return rows[0] if rows else None

        async for entry in follow(info, group, event_types, "activity", fetch, ActivityEntry.of):
            yield entry

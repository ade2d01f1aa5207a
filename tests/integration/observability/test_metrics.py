"""``/metrics`` after a family's month: each named metric, with the value the flow implies.

Counters are process-wide (earlier tests ran in this process too), so they are compared as the
difference across the flow; gauges are compared as they stand.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import aiormq
import pytest
from aiormq.abc import Basic
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from aequatio.config import Settings
from aequatio.events.catalog import EVENTS
from aequatio.outbox.topology import DOMAIN_EVENTS, Queue, routed_event_types
from aequatio.persistence.tables import events_store
from aequatio.projections.catalog import PROJECTIONS
from aequatio.sagas.catalog import SAGAS
from aequatio.workers import topology
from tests.support.api import Api
from tests.support.live import live
from tests.support.metrics import Scrape, scrape

INVOICE_CREATED = """subscription($g: ID!) { invoiceCreated(groupId: $g) { id } }"""
CREATE_INVOICE = """mutation CreateJanuaryInvoice($input: CreateInvoiceInput!) {
  createInvoice(input: $input) { __typename } }"""
QUEUES = topology().queues
#: A message whose routing key reaches some queues and whose body no consumer can read.
POISON_KEY = EVENTS.routing_key("invoice.created")
POISON_KEY_ROUTED = {
    queue.name: "invoice.created" in routed_event_types(queue.patterns, EVENTS) for queue in QUEUES
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"observe_every_seconds": 0.2})


def routed(queue: Queue, event_types: Counter[str]) -> int:
    types = set(routed_event_types(queue.patterns, EVENTS))
    return sum(count for event_type, count in event_types.items() if event_type in types)


async def committed_event_types(database_url: str) -> Counter[str]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(select(events_store.c.event_type))
            return Counter(row.event_type for row in rows)
    finally:
        await engine.dispose()


async def publish_poison(broker_url: str) -> None:
    connection = await aiormq.connect(broker_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        confirmation = await channel.basic_publish(
            b"{not json",
            exchange=DOMAIN_EVENTS,
            routing_key=POISON_KEY,
            mandatory=True,
            properties=aiormq.spec.Basic.Properties(message_id=str(uuid.uuid4()), delivery_mode=2),
        )
        assert isinstance(confirmation, Basic.Ack)
    finally:
        await connection.close()


async def settled(api: Api, before: Scrape, events: Counter[str]) -> Scrape:
    """The scrape once every event was published and every queue finished what it was sent."""
    total = sum(events.values())
    for _ in range(300):
        now = await scrape(api.http)
        published = now.delta(before, "aequatio_events_published_total", outcome="confirmed")
        finished = all(
            now.delta(before, "aequatio_consume_seconds_count", consumer=queue.name)
            >= routed(queue, events) + (1 if POISON_KEY_ROUTED[queue.name] else 0)
            for queue in QUEUES
        )
        observed = (
            now.value("aequatio_outbox_pending") == 0
            and all(
                now.value("aequatio_projection_lag_positions", projection=p.name) == 0
                for p in PROJECTIONS
            )
            and now.value("aequatio_saga_states", saga="invoice", status="issued") == 1
        )
        if published >= total and finished and observed:
            await asyncio.sleep(0.5)  # anything extra would show now
            return await scrape(api.http)
        await asyncio.sleep(0.1)
    raise AssertionError("the flow did not settle")


async def test_metrics_count_a_month_end_flow(
    api: Api, settings: Settings, broker_url: str
) -> None:
    assert any(POISON_KEY_ROUTED.values())
    before = await scrape(api.http)
    group, [ann, ben] = await api.family("Ann", "Ben")
    await api.succeed(
        "addExpense",
        {
            "groupId": group,
            "amountCents": 9_999,
            "currency": "EUR",
            "description": "Rent",
            "incurredOn": "2026-01-05",
        },
        token=ben.token,
    )
    async with live(api.base_url, ann.token) as feed:
        await feed.subscribe(INVOICE_CREATED, {"g": group})
        await asyncio.sleep(0.3)
        assert (await scrape(api.http)).value("aequatio_live_subscriptions") == 1
        response = await api.post(
            CREATE_INVOICE,
            {
                "input": {
                    "groupId": group,
                    "period": {"start": "2026-01-01", "end": "2026-02-01"},
                    "idempotencyKey": "metrics",
                }
            },
            token=ann.token,
        )
        assert response.json()["data"]["createInvoice"]["__typename"] == "MutationSuccess"
        await feed.next_data()
    refused = await api.post("query Broken { noSuchField }", token=ann.token)
    assert refused.json()["errors"]
    await publish_poison(broker_url)

    events = await committed_event_types(settings.database_url or "")
    assert events["invoice.created"] == 1
    after = await settled(api, before, events)

    for event_type, count in events.items():
        assert after.delta(before, "aequatio_events_written_total", event_type=event_type) == count
    assert after.delta(before, "aequatio_events_published_total", outcome="confirmed") == sum(
        events.values()
    )
    for queue in QUEUES:
        expected = routed(queue, events)
        poisoned = 1 if POISON_KEY_ROUTED[queue.name] else 0
        consumed = {
            outcome: after.delta(
                before, "aequatio_events_consumed_total", consumer=queue.name, outcome=outcome
            )
            for outcome in ("applied", "duplicate", "dead_lettered", "requeued")
        }
        assert consumed == {
            "applied": expected,
            "duplicate": 0,
            "dead_lettered": poisoned,
            "requeued": 0,
        }, queue.name
        assert (
            after.delta(before, "aequatio_events_dead_lettered_total", consumer=queue.name)
            == poisoned
        )
        assert (
            after.delta(before, "aequatio_consume_seconds_count", consumer=queue.name)
            == expected + poisoned
        )
        assert (
            after.delta(before, "aequatio_event_lag_seconds_count", consumer=queue.name) == expected
        )
        assert after.value("aequatio_consumers", queue=queue.name) == 1
    assert after.value("aequatio_outbox_pending") == 0
    assert after.value("aequatio_outbox_oldest_age_seconds") == 0
    assert after.value("aequatio_dispatcher_leader") == 1
    for projection in PROJECTIONS:
        assert after.has("aequatio_projection_lag_positions", projection=projection.name)
        assert after.value("aequatio_projection_lag_positions", projection=projection.name) == 0
    states = {
        (saga.name, status): after.value("aequatio_saga_states", saga=saga.name, status=status)
        for saga in SAGAS
        for status in ("completed", "issued", "waiting", "failed", "timed_out")
    }
    assert states[("split", "completed")] == 1
    assert states[("invoice", "issued")] == 1
    assert sum(states.values()) == 2
    assert after.value("aequatio_live_subscriptions") == 0
    mutation = {"operation": "CreateJanuaryInvoice", "type": "mutation"}
    assert after.delta(before, "aequatio_graphql_operations_total", **mutation, outcome="ok") == 1
    assert after.delta(before, "aequatio_graphql_operation_seconds_count", **mutation) == 1
    broken = {"operation": "Broken", "type": "query", "outcome": "refused"}
    assert after.delta(before, "aequatio_graphql_operations_total", **broken) == 1

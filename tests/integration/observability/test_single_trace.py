"""One trace from a ``createInvoice`` mutation to the ``invoiceCreated`` push: HTTP, the command,
its events through the outbox and RabbitMQ, both sagas and their commands, the live push."""

from __future__ import annotations

import asyncio

from opentelemetry import trace
from opentelemetry.propagate import inject
from opentelemetry.sdk.trace import ReadableSpan

from tests.support.api import Api
from tests.support.live import live
from tests.support.spans import ancestry, in_trace, span_recorder

INVOICE_CREATED = """subscription($g: ID!) { invoiceCreated(groupId: $g) { id status } }"""
CREATE_INVOICE = """mutation CreateJanuaryInvoice($input: CreateInvoiceInput!) {
  createInvoice(input: $input) { __typename ... on MutationSuccess { id } } }"""

#: The push's ancestry, nearest first (``*`` marks a prefix: routing keys carry a context).
EXPECTED_PATH = [
    "push invoiceCreated",
    "publish *invoice.created",
    "command IssueInvoice",
    "saga invoice",
    "consume saga.invoice",
    "publish *split.completed",
    "command CompleteSplit",
    "saga split",
    "consume saga.split",
    "publish *split.requested",
    "command CreateInvoice",
    "graphql mutation CreateJanuaryInvoice",
    "POST /graphql",
    "client",
]


def named(expected: str, actual: str) -> bool:
    if "*" in expected:
        head, tail = expected.split("*")
        return actual.startswith(head) and actual.endswith(tail)
    return actual == expected


def the_push(spans: list[ReadableSpan]) -> ReadableSpan | None:
    return next((s for s in spans if s.name == "push invoiceCreated"), None)


async def test_one_trace_runs_from_the_mutation_to_the_subscription_push(api: Api) -> None:
    recorder = span_recorder()
    group, [ann, ben] = await api.family("Ann", "Ben")
    await api.succeed(
        "addExpense",
        {
            "groupId": group,
            "amountCents": 10_001,
            "currency": "EUR",
            "description": "Rent",
            "incurredOn": "2026-01-05",
        },
        token=ben.token,
    )
    async with live(api.base_url, ann.token) as feed:
        await feed.subscribe(INVOICE_CREATED, {"g": group})
        await asyncio.sleep(0.3)  # the subscription is registered
        with trace.get_tracer("test").start_as_current_span("client") as client:
            headers: dict[str, str] = {}
            inject(headers)
            response = await api.post(
                CREATE_INVOICE,
                {
                    "input": {
                        "groupId": group,
                        "period": {"start": "2026-01-01", "end": "2026-02-01"},
                        "idempotencyKey": "trace",
                    }
                },
                token=ann.token,
                headers=headers,
            )
        assert response.json()["data"]["createInvoice"]["__typename"] == "MutationSuccess"
        pushed = await feed.next_data()
        assert pushed["invoiceCreated"]["status"] == "ISSUED"

    trace_id = client.get_span_context().trace_id
    for _ in range(50):  # the push span ends just before the frame is sent
        spans = in_trace(recorder.get_finished_spans(), trace_id)
        if the_push(spans) is not None:
            break
        await asyncio.sleep(0.1)
    recorder.clear()
    push = the_push(spans)
    assert push is not None, sorted(s.name for s in spans)

    path = ancestry(push, spans)
    assert len(path) == len(EXPECTED_PATH), path
    for expected, actual in zip(EXPECTED_PATH, path, strict=True):
        assert named(expected, actual), path

    # Every span of the trace hangs off a span of the trace: none lost its parent on the way.
    ids = {s.context.span_id for s in spans if s.context is not None}
    orphans = [
        s.name
        for s in spans
        if s.name != "client" and (s.parent is None or s.parent.span_id not in ids)
    ]
    assert orphans == []
    # The outbox write happened inside the mutation's command.
    writes = [s for s in spans if s.name == "outbox write"]
    assert any(ancestry(s, spans)[1] == "command CreateInvoice" for s in writes)
    # The projections applied the trace's events in the same trace.
    assert any(s.name == "project invoices" for s in spans)

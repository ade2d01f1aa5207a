"""What ``AmqpTransport.declare`` leaves on a real RabbitMQ: exchanges, queues and bindings.

Checked through the broker itself: passive and conflicting declarations over AMQP, and
``rabbitmqctl`` listings. The queues of each test carry a unique name and are deleted after.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import aiormq
import pytest
from aiormq.exceptions import ChannelPreconditionFailed
from pamqp import commands as spec

from aequatio.outbox.amqp import AmqpTransport
from aequatio.outbox.topology import (
    COMMANDS,
    DEAD_LETTERS,
    DOMAIN_EVENTS,
    ExchangeType,
    Queue,
    Topology,
)

AMQP_URL = os.environ.get("AEQUATIO_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
VHOST = unquote(urlsplit(AMQP_URL).path[1:]) or "/"
#: How to run rabbitmqctl (CI with a broker container sets ``docker exec <id> rabbitmqctl``).
RABBITMQCTL = shlex.split(
    os.environ.get("AEQUATIO_TEST_RABBITMQCTL", shutil.which("rabbitmqctl") or "rabbitmqctl")
)
TIMEOUT = 10.0

pytestmark = pytest.mark.timeout(60)

T = TypeVar("T")


async def within(awaitable: Awaitable[T]) -> T:
    return await asyncio.wait_for(awaitable, TIMEOUT)


async def rabbitmqctl(*arguments: str) -> Any:
    """Run ``rabbitmqctl`` against the test broker; JSON listings come back parsed."""
    if not RABBITMQCTL or shutil.which(RABBITMQCTL[0]) is None:
        pytest.fail(f"cannot run {RABBITMQCTL} (set AEQUATIO_TEST_RABBITMQCTL)", pytrace=False)
    process = await asyncio.create_subprocess_exec(
        *RABBITMQCTL,
        *arguments,
        "--silent",
        "--formatter",
        "json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, f"rabbitmqctl {arguments} failed: {err.decode()}"
    return json.loads(out) if out.strip() else None


def argument_table(rows: list[list[Any]]) -> dict[str, Any]:
    """``rabbitmqctl``'s ``[[name, type, value], ...]`` as a dict."""
    return {name: value for name, _type, value in rows}


class Declared:
    def __init__(self, queue: Queue, connection: Any) -> None:
        self.queue = queue
        self.connection = connection

    async def channel(self) -> Any:
        """A fresh channel (a failed declaration closes the one it ran on)."""
        return await within(self.connection.channel())


@pytest.fixture
async def declared() -> AsyncIterator[Declared]:
    queue = Queue(f"projection.x-{uuid.uuid4().hex[:12]}", ("expenses.#",), delivery_limit=7)
    transport = AmqpTransport(AMQP_URL)
    await within(transport.start())
    connection = await within(aiormq.connect(AMQP_URL))
    try:
        await within(transport.declare(Topology().with_queues(queue)))
        yield Declared(queue, connection)
    finally:
        await within(transport.close())
        channel = await within(connection.channel())
        await within(channel.queue_delete(queue.name))
        await within(channel.queue_delete(queue.dead_letter_queue))
        await within(connection.close())


async def test_the_exchanges_exist_with_their_types(declared: Declared) -> None:
    expected = {
        DOMAIN_EVENTS: ExchangeType.TOPIC,
        COMMANDS: ExchangeType.DIRECT,
        DEAD_LETTERS: ExchangeType.DIRECT,
    }
    assert {(e.name, e.type) for e in Topology().exchanges} == set(expected.items())

    listed = {
        row["name"]: row
        for row in await rabbitmqctl("list_exchanges", "-p", VHOST, "name", "type", "durable")
    }
    for name, kind in expected.items():
        assert listed[name]["type"] == kind.value
        assert listed[name]["durable"] is True
        channel = await declared.channel()
        await within(channel.exchange_declare(name, passive=True))
        await within(channel.exchange_declare(name, exchange_type=kind.value, durable=True))
        with pytest.raises(ChannelPreconditionFailed):
            await within(channel.exchange_declare(name, exchange_type="fanout", durable=True))


async def test_the_consumer_queue_is_a_quorum_queue_with_the_declared_arguments(
    declared: Declared,
) -> None:
    queue = declared.queue
    listed = {
        row["name"]: row
        for row in await rabbitmqctl(
            "list_queues", "-p", VHOST, "name", "type", "durable", "arguments"
        )
    }
    assert listed[queue.name]["type"] == "quorum"
    assert listed[queue.name]["durable"] is True
    assert argument_table(listed[queue.name]["arguments"]) == {
        "x-queue-type": "quorum",
        "x-delivery-limit": 7,
        "x-dead-letter-exchange": DEAD_LETTERS,
        "x-dead-letter-routing-key": queue.dead_letter_queue,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }
    assert argument_table(listed[queue.name]["arguments"]) == queue.arguments()

    channel = await declared.channel()
    passive = await within(channel.queue_declare(queue.name, passive=True))
    assert isinstance(passive, spec.Queue.DeclareOk)
    assert (passive.message_count, passive.consumer_count) == (0, 0)
    # The same declaration again is fine ...
    await within(channel.queue_declare(queue.name, durable=True, arguments=queue.arguments()))
    # ... a different one is refused by the broker.
    changed = [
        {**queue.arguments(), "x-delivery-limit": 8},
        {**queue.arguments(), "x-queue-type": "classic"},
        {**queue.arguments(), "x-dead-letter-routing-key": "elsewhere"},
    ]
    for arguments in changed:
        channel = await declared.channel()
        with pytest.raises(ChannelPreconditionFailed):
            await within(channel.queue_declare(queue.name, durable=True, arguments=arguments))


async def test_the_dead_letter_queue_is_durable_and_bound_under_its_own_name(
    declared: Declared,
) -> None:
    queue = declared.queue
    listed = {
        row["name"]: row
        for row in await rabbitmqctl(
            "list_queues", "-p", VHOST, "name", "type", "durable", "arguments"
        )
    }
    assert listed[queue.dead_letter_queue]["durable"] is True
    assert listed[queue.dead_letter_queue]["type"] == "classic"

    # Routing proves the binding: a message to dead.letters under the name lands there.
    channel = await within(declared.connection.channel(publisher_confirms=True))
    confirmation = await within(
        channel.basic_publish(
            b"parked",
            exchange=DEAD_LETTERS,
            routing_key=queue.dead_letter_queue,
            mandatory=True,
            properties=spec.Basic.Properties(message_id="parked-1"),
        )
    )
    assert isinstance(confirmation, spec.Basic.Ack)
    got = await within(channel.basic_get(queue.dead_letter_queue, no_ack=True))
    assert got.body == b"parked"
    assert got.header.properties.message_id == "parked-1"


async def test_the_bindings_exist_once_even_when_declared_again(declared: Declared) -> None:
    queue = declared.queue
    again = AmqpTransport(AMQP_URL)
    await within(again.start())
    try:
        await within(again.declare(Topology().with_queues(queue)))
        await within(again.declare(Topology().with_queues(queue)))
    finally:
        await within(again.close())

    bindings = await rabbitmqctl(
        "list_bindings",
        "-p",
        VHOST,
        "source_name",
        "destination_name",
        "destination_kind",
        "routing_key",
    )
    ours = sorted(
        (row["source_name"], row["destination_name"], row["routing_key"])
        for row in bindings
        if row["destination_kind"] == "queue"
        and row["destination_name"] in (queue.name, queue.dead_letter_queue)
        and row["source_name"] != ""  # every queue is bound to the default exchange
    )
    assert ours == sorted(
        [
            (DOMAIN_EVENTS, queue.name, "expenses.#"),
            (DEAD_LETTERS, queue.dead_letter_queue, queue.dead_letter_queue),
        ]
    )

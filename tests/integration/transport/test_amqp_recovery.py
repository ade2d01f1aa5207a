"""The AMQP adapter heals itself when the broker closes its connection.

The transport under test logs in as a throw-away broker user made for the test, so the
broker can be told to close exactly its connections (``rabbitmqctl
close_all_user_connections``) and, by taking the user's permissions on the vhost away for a
while, to refuse its reconnects: an outage that lasts as long as the test wants, without
stopping the node or touching anybody else's connections. The user is deleted afterwards,
which leaves the broker as it was.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import aiormq
import pytest
from pamqp import commands as spec

from aequatio.outbox.amqp import AmqpTransport
from aequatio.outbox.messages import Delivery, InboundMessage, OutboundMessage, PublishOutcome
from aequatio.outbox.topology import DOMAIN_EVENTS, Queue, Topology
from aequatio.outbox.transport import TransportUnavailable

AMQP_URL = os.environ.get("AEQUATIO_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
VHOST = unquote(urlsplit(AMQP_URL).path[1:]) or "/"
#: How to run rabbitmqctl (CI with a broker container sets ``docker exec <id> rabbitmqctl``).
RABBITMQCTL = shlex.split(
    os.environ.get("AEQUATIO_TEST_RABBITMQCTL", shutil.which("rabbitmqctl") or "rabbitmqctl")
)
#: Upper bound for a single wait; the whole of a recovery is bounded by RECOVERY.
TIMEOUT = 10.0
RECOVERY = 30.0
GRACE = 0.5

pytestmark = pytest.mark.timeout(120)

T = TypeVar("T")


async def within(awaitable: Awaitable[T], seconds: float = TIMEOUT) -> T:
    return await asyncio.wait_for(awaitable, seconds)


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
    try:
        return json.loads(out) if out.strip() else None
    except json.JSONDecodeError:
        return out.decode()


async def eventually(condition: Callable[[], Awaitable[bool]], seconds: float = TIMEOUT) -> None:
    """Wait until ``condition()`` holds, polling; fail after ``seconds``."""

    async def poll() -> None:
        while True:
            if await condition():
                return
            await asyncio.sleep(0.05)

    await within(poll(), seconds)


class Recorder:
    def __init__(self) -> None:
        self.arrived: asyncio.Queue[InboundMessage] = asyncio.Queue()

    async def __call__(self, delivery: Delivery) -> None:
        await delivery.ack()
        self.arrived.put_nowait(delivery.message)

    async def next(self) -> InboundMessage:
        return await within(self.arrived.get())

    async def nothing_more(self) -> None:
        await asyncio.sleep(GRACE)
        extra = [self.arrived.get_nowait().message_id for _ in range(self.arrived.qsize())]
        assert extra == []


@dataclass
class Outage:
    """Control over the broker user the transport under test logs in as."""

    user: str
    password: str
    token: str

    @property
    def url(self) -> str:
        parts = urlsplit(AMQP_URL)
        host = f"{parts.hostname}:{parts.port or 5672}"
        return f"amqp://{self.user}:{self.password}@{host}{parts.path or '/'}"

    async def grant(self) -> None:
        await rabbitmqctl("set_permissions", "-p", VHOST, self.user, ".*", ".*", ".*")

    async def revoke(self) -> None:
        await rabbitmqctl("clear_permissions", "-p", VHOST, self.user)

    async def close_connections(self) -> None:
        await rabbitmqctl("close_all_user_connections", self.user, "test")

    async def connections(self) -> list[str]:
        """The broker's process ids of the user's open connections."""
        rows = await rabbitmqctl("list_connections", "user", "pid")
        return [str(row["pid"]) for row in rows or [] if row["user"] == self.user]

    def key(self, suffix: str) -> str:
        return f"t{self.token}.{suffix}"

    def message(self, suffix: str) -> OutboundMessage:
        return OutboundMessage(
            DOMAIN_EVENTS, self.key(suffix), suffix.encode(), f"{suffix}-{uuid.uuid4()}"
        )


@pytest.fixture
async def outage() -> AsyncIterator[Outage]:
    token = uuid.uuid4().hex[:12]
    outage = Outage(f"aequatio-recovery-{token}", uuid.uuid4().hex, token)
    await rabbitmqctl("add_user", outage.user, outage.password)
    try:
        await outage.grant()
        yield outage
    finally:
        await rabbitmqctl("delete_user", outage.user)


class Guest:
    """A separate connection (as guest) that watches the queues and publishes on the side."""

    def __init__(self, connection: Any, channel: Any) -> None:
        self.connection = connection
        self.channel = channel

    async def consumer_count(self, queue: str) -> int:
        declared = await within(self.channel.queue_declare(queue, passive=True))
        assert isinstance(declared, spec.Queue.DeclareOk)
        return int(declared.consumer_count or 0)

    async def publish(self, message: OutboundMessage) -> None:
        confirmation = await within(
            self.channel.basic_publish(
                message.body,
                exchange=message.exchange,
                routing_key=message.routing_key,
                mandatory=True,
                properties=spec.Basic.Properties(message_id=message.message_id, delivery_mode=2),
            )
        )
        assert isinstance(confirmation, spec.Basic.Ack)


@pytest.fixture
async def queue(outage: Outage) -> AsyncIterator[Queue]:
    queue = Queue(f"projection.recovery-{outage.token}", (outage.key("#"),))
    yield queue
    connection = await within(aiormq.connect(AMQP_URL))
    try:
        channel = await within(connection.channel())
        await within(channel.queue_delete(queue.name))
        await within(channel.queue_delete(queue.dead_letter_queue))
    finally:
        await within(connection.close())


@pytest.fixture
async def guest() -> AsyncIterator[Guest]:
    connection = await within(aiormq.connect(AMQP_URL))
    try:
        yield Guest(connection, await within(connection.channel(publisher_confirms=True)))
    finally:
        await within(connection.close())


@pytest.fixture
async def transport(outage: Outage, queue: Queue) -> AsyncIterator[AmqpTransport]:
    transport = AmqpTransport(outage.url)
    await within(transport.start())
    try:
        await within(transport.declare(Topology().with_queues(queue)))
        yield transport
    finally:
        await within(transport.close())


async def publish_fails(transport: AmqpTransport, message: OutboundMessage) -> bool:
    try:
        outcomes = await within(transport.publish([message]))
    except TransportUnavailable:
        return True
    return outcomes == [PublishOutcome.FAILED]


async def test_recovers_after_an_outage_that_refuses_reconnects(
    transport: AmqpTransport, outage: Outage, queue: Queue, guest: Guest
) -> None:
    durable, live = Recorder(), Recorder()
    await within(transport.consume(queue.name, durable, prefetch=10))
    live_queue = await within(transport.temporary_queue([outage.key("live.*")]))
    await within(transport.consume(live_queue, live, prefetch=10))
    before = outage.message("before")
    assert await within(transport.publish([before])) == [PublishOutcome.CONFIRMED]
    assert (await durable.next()).message_id == before.message_id
    assert await guest.consumer_count(queue.name) == 1

    # The broker drops the connection and refuses to let the transport back in.
    await outage.revoke()
    await outage.close_connections()

    async def disconnected() -> bool:
        return not transport.connected

    await eventually(disconnected)
    for attempt in range(3):
        assert await publish_fails(transport, outage.message(f"during{attempt}"))
        await asyncio.sleep(0.2)
    assert not transport.connected
    assert await guest.consumer_count(queue.name) == 0
    # What others publish meanwhile waits in the durable queue.
    meanwhile = outage.message("meanwhile")
    await guest.publish(meanwhile)

    await outage.grant()

    async def connected() -> bool:
        return transport.connected

    await eventually(connected, RECOVERY)
    assert (await durable.next()).message_id == meanwhile.message_id
    await assert_one_consumer(guest, queue.name)
    after, live_after = outage.message("after"), outage.message("live.after")
    outcomes = await within(transport.publish([after, live_after]))
    assert outcomes == [PublishOutcome.CONFIRMED, PublishOutcome.CONFIRMED]
    assert [(await durable.next()).message_id for _ in range(2)] == [
        after.message_id,
        live_after.message_id,
    ]
    # The live subscription is back too (it missed what was published during the outage).
    assert (await live.next()).message_id == live_after.message_id
    await durable.nothing_more()
    await live.nothing_more()
    assert len(await outage.connections()) == 1


async def test_recovers_after_repeated_connection_closes(
    transport: AmqpTransport, outage: Outage, queue: Queue, guest: Guest
) -> None:
    durable = Recorder()
    await within(transport.consume(queue.name, durable, prefetch=10))

    for round_ in range(3):
        [closed] = await outage.connections()
        await outage.close_connections()

        async def reconnected(closed: str = closed) -> bool:
            # A new connection of the user, and the transport says it is ready.
            current = await outage.connections()
            return transport.connected and len(current) == 1 and current != [closed]

        await eventually(reconnected, RECOVERY)
        await assert_one_consumer(guest, queue.name)
        message = outage.message(f"round{round_}")
        assert await within(transport.publish([message])) == [PublishOutcome.CONFIRMED]
        assert (await durable.next()).message_id == message.message_id
        await durable.nothing_more()


async def test_a_reconnect_that_fails_half_way_leaves_nothing_behind(
    transport: AmqpTransport, outage: Outage, queue: Queue, guest: Guest
) -> None:
    """A reconnect that gets in but cannot re-subscribe one consumer (its queue is gone)
    must not leave that connection open, with the other consumers subscribed on it."""
    extra = f"{queue.name}.extra"
    await within(guest.channel.queue_declare(extra, durable=True))
    try:
        durable, others = Recorder(), Recorder()
        await within(transport.consume(queue.name, durable, prefetch=10))
        await within(transport.consume(extra, others, prefetch=10))
        await outage.revoke()
        await outage.close_connections()

        async def disconnected() -> bool:
            return not transport.connected

        await eventually(disconnected)
        await within(guest.channel.queue_delete(extra))
        await outage.grant()
        # Reconnects now get in, subscribe to the first queue, then fail on the second.
        deadline = asyncio.get_running_loop().time() + 3.0
        while asyncio.get_running_loop().time() < deadline:
            assert len(await outage.connections()) <= 1
            assert await guest.consumer_count(queue.name) <= 1
            await asyncio.sleep(0.1)
        assert not transport.connected

        await within(guest.channel.queue_declare(extra, durable=True))

        async def connected() -> bool:
            return transport.connected

        await eventually(connected, RECOVERY)
        await assert_one_consumer(guest, queue.name)
        await assert_one_consumer(guest, extra)
        assert len(await outage.connections()) == 1
        message = outage.message("after")
        assert await within(transport.publish([message])) == [PublishOutcome.CONFIRMED]
        assert (await durable.next()).message_id == message.message_id
    finally:
        await within(guest.channel.queue_delete(extra))


async def assert_one_consumer(guest: Guest, queue: str) -> None:
    async def one() -> bool:
        return await guest.consumer_count(queue) == 1

    await eventually(one)
    # And it stays one: no late duplicate subscription.
    await asyncio.sleep(1.0)
    assert await guest.consumer_count(queue) == 1

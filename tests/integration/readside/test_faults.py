"""Nothing lost, nothing applied twice — under duplicates, a broker restart, a dispatcher
dying between publish and mark, a consumer dying before its ack, and out-of-order commits.

Each test ends with the same two checks: every projection applied exactly the set of committed
events it listens to, and every balance equals the one recomputed from the event store.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import subprocess
from collections.abc import Sequence

from aequatio.bootstrap import Application, bootstrap
from aequatio.config import Settings
from aequatio.events.catalog import EVENTS
from aequatio.events.envelope import Envelope
from aequatio.outbox.consumer import ConsumerLoop
from aequatio.outbox.dispatcher import OutboxDispatcher
from aequatio.outbox.inprocess import InProcessTransport
from aequatio.outbox.messages import OutboundMessage, PublishOutcome
from aequatio.outbox.transport import Transport
from aequatio.persistence.errors import is_transient
from aequatio.persistence.unit_of_work import SqlUnitOfWork
from aequatio.projections.catalog import PROJECTIONS
from aequatio.projections.runner import ProjectionHandler
from aequatio.workers import Role, Workers, topology
from tests.support.broker import broker_stopped
from tests.support.family import family
from tests.support.history import rich_history
from tests.support.readside import FAST, assert_exactly_once, read_side
from tests.support.transports import CleanAmqpTransport
from tests.support.worker_process import start_worker
from tests.support.workload import expenses

# -- duplicates -------------------------------------------------------------------------------


def doubled(messages: Sequence[OutboundMessage]) -> list[OutboundMessage]:
    return [message for message in messages for _ in (0, 1)]


class DuplicatingAmqp(CleanAmqpTransport):
    """Publishes every message twice (a broker or network that duplicates)."""

    async def publish(self, messages: Sequence[OutboundMessage]) -> list[PublishOutcome]:
        return (await super().publish(doubled(messages)))[1::2]


class DuplicatingInProcess(InProcessTransport):
    async def publish(self, messages: Sequence[OutboundMessage]) -> list[PublishOutcome]:
        return (await super().publish(doubled(messages)))[1::2]


async def test_every_message_published_twice_is_applied_once(
    application: Application, amqp_url: str
) -> None:
    for transport in (DuplicatingAmqp(amqp_url), DuplicatingInProcess()):
        async with read_side(application.engine, transport):
            await rich_history(application.bus)
            await assert_exactly_once(application.engine)


# -- the broker restarts ----------------------------------------------------------------------


async def test_a_broker_restart_mid_stream_loses_nothing(
    application: Application, amqp_transport: Transport
) -> None:
    fam = await family(application.bus, "Ann", "Ben", "Cai")
    async with read_side(application.engine, amqp_transport):
        await expenses(application, fam, 20, seed=1)
        async with broker_stopped():
            # Commands keep committing while the broker is down: they wait in the outbox.
            await expenses(application, fam, 20, seed=2)
        await expenses(application, fam, 20, seed=3)
        await assert_exactly_once(application.engine)


# -- the dispatcher dies between publish and mark ---------------------------------------------


class Killed(BaseException):
    """The process died (not an error anything in the process may catch)."""


class DiesAfterPublishing(OutboxDispatcher):
    async def _record(self, *args: object, **kwargs: object) -> None:
        raise Killed


async def test_a_dispatcher_dying_after_publish_before_marking_loses_and_doubles_nothing(
    application: Application, transport: Transport
) -> None:
    async with read_side(application.engine, transport, roles=[Role.PROJECTIONS]):
        fam = await family(application.bus, "Ann", "Ben")
        await expenses(application, fam, 10)
        doomed = DiesAfterPublishing(application.engine, transport, EVENTS, FAST)
        with contextlib.suppress(Killed):
            await doomed.run()
        # Everything was published once, nothing marked: the next dispatcher sends it all again.
        successor = OutboxDispatcher(application.engine, transport, EVENTS, FAST)
        running = asyncio.create_task(successor.run())
        try:
            # The successor sends everything again (the doomed one's batches, one or two in
            # flight, all died unmarked); the projections skip every second copy.
            async with asyncio.timeout(30):
                while successor.counts["published"] < 14:  # noqa: ASYNC110 - its own counter
                    await asyncio.sleep(0.05)
            await assert_exactly_once(application.engine)
        finally:
            await successor.stop()
            await running


# -- a consumer dies before its ack -----------------------------------------------------------


class DiesBeforeAck:
    """Commits the effect, then dies before the ack for the first ``times`` messages."""

    def __init__(self, inner: ProjectionHandler, times: int) -> None:
        self._inner = inner
        self.remaining = times

    async def __call__(self, envelope: Envelope) -> None:
        await self._inner(envelope)
        if self.remaining > 0:
            self.remaining -= 1
            raise ConnectionResetError("consumer died before acking")


async def test_a_consumer_dying_after_commit_before_ack_applies_once(
    application: Application, transport: Transport
) -> None:
    workers = Workers(application.engine, transport, [Role.DISPATCHER], dispatcher_settings=FAST)
    await workers.start()
    await transport.declare(topology(PROJECTIONS, ()))  # consumed here, outside the workers
    loops = []
    try:
        for projection in PROJECTIONS:
            handler = DiesBeforeAck(ProjectionHandler(application.engine, projection, EVENTS), 3)
            loop = ConsumerLoop(transport, projection.queue(), handler, is_transient=is_transient)
            await loop.start()
            loops.append(loop)
        await rich_history(application.bus)
        await assert_exactly_once(application.engine)
    finally:
        await workers.dispatcher.stop()
        for loop in loops:
            await loop.stop()
        await workers.stop()


async def test_a_killed_worker_process_is_replaced_without_loss(
    application: Application, database_url: str, amqp_url: str, amqp_transport: Transport
) -> None:
    env = {"AEQUATIO_DATABASE_URL": database_url, "AEQUATIO_AMQP_URL": amqp_url}

    def worker() -> subprocess.Popen[bytes]:
        return start_worker(env, "projections")

    fam = await family(application.bus, "Ann", "Ben", "Cai")
    async with read_side(application.engine, amqp_transport, roles=[Role.DISPATCHER]):
        first = worker()
        try:
            await expenses(application, fam, 30, seed=4)
            await asyncio.sleep(0.5)
            first.send_signal(signal.SIGKILL)  # mid-stream: messages in hand are never acked
            first.wait(timeout=10)
            await expenses(application, fam, 30, seed=5)
        finally:
            if first.poll() is None:
                first.kill()
        second = worker()
        try:
            await assert_exactly_once(application.engine)
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=30) == 0


# -- out-of-order commits ---------------------------------------------------------------------


class DawdlingCommit(SqlUnitOfWork):
    """Writers that hesitate before COMMIT: later positions often commit first."""

    async def _commit(self) -> None:
        await asyncio.sleep(random.uniform(0, 0.05))
        await super()._commit()


async def test_events_committed_out_of_position_order_are_all_applied(
    application: Application, database_url: str, transport: Transport
) -> None:
    fam = await family(application.bus, "Ann", "Ben", "Cai")
    dawdling = bootstrap(Settings(), database_url=database_url, uow_class=DawdlingCommit)
    try:
        async with read_side(application.engine, transport):
            await asyncio.gather(*(expenses(dawdling, fam, 8, seed=seed) for seed in range(6)))
            await assert_exactly_once(application.engine)
    finally:
        await dawdling.aclose()

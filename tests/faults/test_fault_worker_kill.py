"""Consumer and saga workers are SIGKILLed mid-message, again and again, while load flows.

Real ``aequatio worker --role projections`` and ``--role sagas`` processes consume the test's
virtual host; the test's own process commits commands and runs the dispatcher. Each round one
worker — chosen at random — is killed with ``kill -9`` once it is busy applying events (its
messages in hand are never acked, its transaction never commits), and a fresh one of the same
role takes its place (started first, so the two compete on the queues for a moment, as
operators run several; the messages the killed one held are redelivered). In the end the
fresh workers drain the queues: nothing lost, nothing applied twice, every balance
recomputes, no saga stuck.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import subprocess
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from aequatio.bootstrap import Application
from aequatio.outbox.amqp import AmqpTransport
from aequatio.projections.catalog import PROJECTIONS
from aequatio.sagas.catalog import SAGAS
from aequatio.workers import Role
from tests.support.faultbroker import QueueWatch, queue_watch
from tests.support.faultcheck import assert_consistent
from tests.support.faultload import Ledger
from tests.support.faultprocess import exited, reap
from tests.support.faultscale import scaled
from tests.support.readside import read_side
from tests.support.worker_process import start_worker

KILLS = scaled(4, 100)
#: How long a worker may take to get busy before it is killed anyway (a quiet saga queue).
BUSY_WITHIN = 3.0
CONSUMERS = {
    Role.PROJECTIONS: [projection.consumer for projection in PROJECTIONS],
    Role.SAGAS: [saga.consumer for saga in SAGAS],
}
QUEUES = {
    Role.PROJECTIONS: [projection.queue().name for projection in PROJECTIONS],
    Role.SAGAS: [saga.queue().name for saga in SAGAS],
}
#: How long a fresh worker may take to subscribe to every queue of its role.
SUBSCRIBED_WITHIN = 60.0

pytestmark = pytest.mark.timeout(scaled(180, 4 * 3600))


async def applied(engine: AsyncEngine, role: Role) -> int:
    """Tracking rows the role's consumers committed so far."""
    async with engine.connect() as connection:
        query = text("SELECT count(*) FROM read.processed_events WHERE consumer = ANY(:names)")
        return int((await connection.execute(query, {"names": CONSUMERS[role]})).scalar_one())


async def busy(engine: AsyncEngine, role: Role, since: int) -> bool:
    """Wait until the role's worker committed something new (it is consuming); False if it
    did not within ``BUSY_WITHIN`` seconds."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(BUSY_WITHIN):
            while await applied(engine, role) <= since:  # noqa: ASYNC110 - polls the database
                await asyncio.sleep(0.05)
            return True
    return False


@asynccontextmanager
async def flowing(ledger: Ledger, batch: int = 5, pause: float = 0.15) -> AsyncIterator[None]:
    """Commands commit in the background for the block, at a pace one worker process keeps up
    with (about 100 mutations a second at most, README)."""
    stop = asyncio.Event()

    async def run() -> None:
        while not stop.is_set():
            await ledger.commit(batch)
            await asyncio.sleep(pause)

    task = asyncio.create_task(run(), name="load")
    try:
        yield
    finally:
        stop.set()
        await task


class Pool:
    """One live worker per role; every process started is stopped by its own PID. (No standby
    kept booting in advance: on two cores the extra processes cost more than they hide.)"""

    def __init__(self, env: dict[str, str], logs: Path, watch: QueueWatch) -> None:
        self._env = env
        self._logs = logs
        self._watch = watch
        self.live: dict[Role, subprocess.Popen[bytes]] = {}
        #: Seconds each worker took from its start to consuming every queue of its role.
        self.boots: list[float] = []
        self._started: list[subprocess.Popen[bytes]] = []

    async def start(self, roles: tuple[Role, ...]) -> None:
        """A worker of each role, once all consume their queues."""
        live = await asyncio.gather(*(self._start(role, consumers=1) for role in roles))
        self.live.update(zip(roles, live, strict=True))

    async def _start(self, role: Role, *, consumers: int) -> subprocess.Popen[bytes]:
        """A new worker of ``role``, once each queue of the role has ``consumers``."""
        loop = asyncio.get_running_loop()
        began = loop.time()
        worker = start_worker(self._env, role.value, log=self._logs / f"{role.value}.log")
        self._started.append(worker)
        await self._consumed_by(role, consumers, worker)
        self.boots.append(loop.time() - began)
        return worker

    async def _consumed_by(
        self, role: Role, consumers: int, worker: subprocess.Popen[bytes] | None = None
    ) -> None:
        expected = dict.fromkeys(QUEUES[role], consumers)
        async with asyncio.timeout(SUBSCRIBED_WITHIN):
            while await self._watch.consumers(QUEUES[role]) != expected:
                if worker is not None:
                    assert worker.poll() is None, f"a new {role} worker exited: {worker.returncode}"
                await asyncio.sleep(0.05)

    async def replace(self, role: Role, kill_when: Callable[[], Awaitable[object]]) -> None:
        """Start a fresh worker of ``role``; once it consumes, SIGKILL the old one at
        ``kill_when()``."""
        fresh = await self._start(role, consumers=2)
        await kill_when()
        old = self.live[role]
        assert old.poll() is None, f"the {role} worker had died by itself: {old.returncode}"
        old.send_signal(signal.SIGKILL)
        assert await exited(old, 10) == -signal.SIGKILL
        self.live[role] = fresh
        await self._consumed_by(role, 1)  # the broker saw the old one go

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Pool]:
        try:
            yield self
        finally:
            for worker in self._started:
                if worker.poll() is None:
                    worker.send_signal(signal.SIGTERM)
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        await asyncio.to_thread(worker.wait, 20)
                reap(worker)


async def test_workers_killed_mid_message_are_replaced_and_lose_nothing(
    application: Application,
    database_url: str,
    amqp_url: str,
    rng: random.Random,
    tmp_path: Path,
) -> None:
    env = {
        "AEQUATIO_DATABASE_URL": database_url,
        "AEQUATIO_AMQP_URL": amqp_url,
        "AEQUATIO_LOG_LEVEL": "WARNING",
        "AEQUATIO_DATA_DIR": str(tmp_path / "data"),
    }
    ledger = await Ledger.open(application, rng)
    kills: Counter[str] = Counter()
    idle: Counter[str] = Counter()
    engine = application.engine
    dispatcher = AmqpTransport(amqp_url)
    async with (
        queue_watch(amqp_url) as watch,
        Pool(env, tmp_path, watch).running() as pool,
    ):
        async with read_side(engine, dispatcher, (Role.DISPATCHER,)), flowing(ledger):
            await pool.start((Role.PROJECTIONS, Role.SAGAS))
            for _ in range(KILLS):
                role = rng.choice((Role.PROJECTIONS, Role.PROJECTIONS, Role.SAGAS))

                async def moment(role: Role = role) -> None:
                    since = await applied(engine, role)
                    if role is Role.SAGAS:
                        await ledger.request_invoices()  # work for the saga workers
                    if not await busy(engine, role, since):
                        idle[role.value] += 1
                    await asyncio.sleep(rng.uniform(0, 0.2))  # somewhere inside a message

                await pool.replace(role, moment)
                kills[role.value] += 1
            print(
                f"workers killed: {dict(kills)} (not yet busy when killed: {dict(idle)}); "
                f"{ledger.committed} events; workers up in {[round(b, 1) for b in pool.boots]} s"
            )
        async with read_side(engine, AmqpTransport(amqp_url), (Role.DISPATCHER,)):
            await assert_consistent(engine, amqp_url=amqp_url)

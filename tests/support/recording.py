"""A consumer that records what it receives, for transport and dispatcher tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from aequatio.events.catalog import EVENTS
from aequatio.events.envelope import Envelope
from aequatio.outbox.consumer import ConsumerLoop
from aequatio.outbox.dispatcher import DispatcherSettings, OutboxDispatcher
from aequatio.outbox.topology import Queue
from aequatio.outbox.transport import Transport
from aequatio.persistence.errors import is_transient

T = TypeVar("T")


class Recorder:
    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self._changed = asyncio.Event()

    async def __call__(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)
        self._changed.set()

    async def wait_for(
        self, condition: Callable[[list[Envelope]], bool], within: float = 10
    ) -> None:
        async def until() -> None:
            while not condition(self.envelopes):
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(until(), within)


@asynccontextmanager
async def recording(transport: Transport, queue: Queue) -> AsyncIterator[Recorder]:
    recorder = Recorder()
    loop = ConsumerLoop(transport, queue, recorder, is_transient=is_transient)
    await loop.start()
    try:
        yield recorder
    finally:
        await loop.stop()


@asynccontextmanager
async def dispatching(
    engine: AsyncEngine, transport: Transport, settings: DispatcherSettings | None = None
) -> AsyncIterator[OutboxDispatcher]:
    """A dispatcher running in the background for the duration of the block."""
    dispatcher = OutboxDispatcher(engine, transport, EVENTS, settings)
    task = asyncio.create_task(dispatcher.run())
    try:
        yield dispatcher
    finally:
        await dispatcher.stop()
        await task


async def eventually(condition: Callable[[], bool], *, within: float = 10) -> None:
    """Wait until ``condition()`` holds (polling), failing after ``within`` seconds."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - the condition has no event to wait on
            await asyncio.sleep(0.02)


async def polled(probe: Callable[[], Awaitable[T | None]], *, within: float = 30) -> T:
    """The first truthy answer of ``probe()`` (polled), failing after ``within`` seconds."""
    async with asyncio.timeout(within):
        while True:
            answer = await probe()
            if answer:
                return answer
            await asyncio.sleep(0.05)

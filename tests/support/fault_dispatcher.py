"""An outbox dispatcher that SIGKILLs its own process at a chosen point (``kill -9``, no cleanup).

Run as a child process of a test::

    python -m tests.support.fault_dispatcher DATABASE_URL AMQP_URL POINT BATCH MESSAGE SIZE

It dispatches normally until its ``BATCH``-th batch (1-based), then dies at ``POINT``:

* ``before_publish``: the batch was read from the outbox, nothing sent;
* ``in_confirms``: every message of the batch was handed to the broker and the confirms are
  being awaited: it dies before awaiting confirm number ``MESSAGE`` (capped by the batch size);
* ``before_mark``: the broker confirmed the batch, the rows are not marked published yet.

The dispatcher pipelines its batches (the next one is published while this one's confirms
are awaited), so another batch may be in flight when it dies. Each batch is published and
marked in a task of its own: the batch a publish, a confirm or a mark belongs to is told by
that task's context.

No fault hook lives in production code: these are subclasses of the real dispatcher and
transport, and the death is a real SIGKILL of the process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aequatio.events.catalog import EVENTS
from aequatio.outbox.amqp import AmqpTransport
from aequatio.outbox.dispatcher import DispatcherSettings, OutboxDispatcher
from aequatio.outbox.messages import OutboundMessage, PublishOutcome
from aequatio.outbox.transport import Transport
from aequatio.persistence.database import create_engine
from aequatio.workers import topology


class KillPoint(StrEnum):
    BEFORE_PUBLISH = "before_publish"
    IN_CONFIRMS = "in_confirms"
    BEFORE_MARK = "before_mark"


@dataclass(frozen=True)
class KillPlan:
    point: KillPoint
    batch: int
    message: int
    batch_size: int

    def arguments(self) -> list[str]:
        return [self.point.value, str(self.batch), str(self.message), str(self.batch_size)]


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class _Batch:
    number: int
    size: int
    awaited: int = 0


#: The batch whose publish (and then mark) the current task runs.
_CURRENT: ContextVar[_Batch | None] = ContextVar("batch", default=None)


class _Plan:
    """Counts batches; says when the chosen point of the chosen batch is reached."""

    def __init__(self, plan: KillPlan) -> None:
        self.plan = plan
        self.batches = 0

    def starting_batch(self, size: int) -> None:
        self.batches += 1
        _CURRENT.set(_Batch(self.batches, size))

    def at(self, point: KillPoint) -> bool:
        current = _CURRENT.get()
        return (
            self.plan.point is point and current is not None and current.number == self.plan.batch
        )

    def awaiting_confirm(self) -> bool:
        """One more confirm of the current batch is awaited: is it the chosen one?"""
        current = _CURRENT.get()
        if current is None:
            return False
        current.awaited += 1
        return self.at(KillPoint.IN_CONFIRMS) and current.awaited == min(
            self.plan.message, current.size
        )


class KillingTransport(AmqpTransport):
    def __init__(self, url: str, plan: _Plan) -> None:
        super().__init__(url)
        self._plan = plan

    async def publish(self, messages: Sequence[OutboundMessage]) -> list[PublishOutcome]:
        # A publish refused at once (the broker is unreachable) is no batch: only those that
        # reach the broker count, so the chosen point is still reached after an outage.
        self._require_connection()
        self._plan.starting_batch(len(messages))
        if self._plan.at(KillPoint.BEFORE_PUBLISH):
            die()
        return await super().publish(messages)

    async def _outcome(self, task: asyncio.Task[Any]) -> PublishOutcome:
        if self._plan.awaiting_confirm():
            die()
        return await super()._outcome(task)


class KillingDispatcher(OutboxDispatcher):
    def __init__(self, url: str, transport: Transport, plan: _Plan, size: int) -> None:
        super().__init__(
            create_engine(url, pool_size=2, max_overflow=2),
            transport,
            EVENTS,
            DispatcherSettings(batch_size=size, poll_interval=0.2, standby_interval=0.2),
        )
        self._plan = plan

    async def _record(self, *args: Any, **kwargs: Any) -> None:
        if self._plan.at(KillPoint.BEFORE_MARK):
            die()
        await super()._record(*args, **kwargs)


async def run(database_url: str, amqp_url: str, plan: KillPlan) -> None:
    counting = _Plan(plan)
    transport = KillingTransport(amqp_url, counting)
    await transport.start()
    await transport.declare(topology())
    await KillingDispatcher(database_url, transport, counting, plan.batch_size).run()


def command(database_url: str, amqp_url: str, plan: KillPlan) -> list[str]:
    """The child's command line (``faultprocess.spawn`` runs it in the repository root)."""
    return [
        sys.executable,
        "-m",
        "tests.support.fault_dispatcher",
        database_url,
        amqp_url,
        *plan.arguments(),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("database_url")
    parser.add_argument("amqp_url")
    parser.add_argument("point", type=KillPoint)
    parser.add_argument("batch", type=int)
    parser.add_argument("message", type=int)
    parser.add_argument("batch_size", type=int)
    args = parser.parse_args()
    plan = KillPlan(args.point, args.batch, args.message, args.batch_size)
    asyncio.run(run(args.database_url, args.amqp_url, plan))


if __name__ == "__main__":
    main()

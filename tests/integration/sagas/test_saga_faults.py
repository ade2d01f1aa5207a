"""The workflows survive redelivery, a saga worker dying at any step, and a split that never
completes (its timeout fails it, which releases the request)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import date, timedelta
from functools import partial
from typing import Any
from uuid import UUID

from sqlalchemy import func, select

from aequatio.application import commands
from aequatio.bootstrap import Application
from aequatio.events.catalog import EVENTS
from aequatio.events.envelope import Envelope
from aequatio.outbox.consumer import ConsumerLoop
from aequatio.outbox.transport import Transport
from aequatio.persistence.database import REPOSITORY_ROOT
from aequatio.persistence.errors import is_transient
from aequatio.persistence.event_store import envelope_of
from aequatio.persistence.tables import events_store, invoices, saga_states, splits
from aequatio.sagas.catalog import SAGAS
from aequatio.sagas.invoice_saga import InvoiceSaga
from aequatio.sagas.runner import SagaHandler, TimeoutSweeper
from aequatio.workers import Role
from tests.support.family import Family, family
from tests.support.readside import read_side
from tests.support.recording import polled
from tests.support.transports import make_transport

JANUARY = (date(2026, 1, 1), date(2026, 2, 1))


async def spend(application: Application, fam: Family, cents: int) -> None:
    await application.bus.handle(
        commands.AddExpense(
            group_id=fam.group_id,
            amount_cents=cents,
            currency="EUR",
            description="Market",
            incurred_on=date(2026, 1, 5),
        ),
        fam.owner.principal,
    )


async def ask_for_invoice(application: Application, fam: Family) -> None:
    await application.bus.handle(
        commands.CreateInvoice(
            group_id=fam.group_id, period_start=JANUARY[0], period_end=JANUARY[1]
        ),
        fam.others[0].principal,
    )


async def rows(application: Application, table: Any) -> list[Any]:
    async with application.engine.connect() as connection:
        return list((await connection.execute(select(table))).all())


async def count_events(application: Application) -> int:
    async with application.engine.connect() as connection:
        query = select(func.count()).select_from(events_store)
        return int((await connection.execute(query)).scalar_one())


async def saga_snapshot(application: Application) -> list[tuple[str, str, str, int]]:
    return sorted(
        (r.saga, r.key, r.status, r.version) for r in await rows(application, saga_states)
    )


async def test_redelivering_every_saga_message_changes_nothing(
    application: Application, transport: Transport
) -> None:
    fam = await family(application.bus, "Ann", "Ben")
    async with read_side(
        application.engine, transport, (Role.DISPATCHER, Role.SAGAS), bus=application.bus
    ):
        await spend(application, fam, 3_000)
        await ask_for_invoice(application, fam)
        await polled(lambda: rows(application, invoices))

    events_before = await count_events(application)
    states_before = sorted(
        (r.saga, r.key, r.status, r.version) for r in await rows(application, saga_states)
    )
    async with application.engine.connect() as connection:
        stored = [envelope_of(r) for r in await connection.execute(select(events_store))]
    for saga in SAGAS:
        handler = SagaHandler(application.engine, application.bus, saga, EVENTS)
        for envelope in stored:
            if envelope.event_type in saga.event_types(EVENTS):
                await handler(envelope)

    assert await count_events(application) == events_before
    states_after = sorted(
        (r.saga, r.key, r.status, r.version) for r in await rows(application, saga_states)
    )
    assert states_after == states_before


class Killed(BaseException):
    """The worker process died mid-step (nothing in it may catch this)."""


class DiesOnce:
    """A saga handler that dies during its ``step``-th message, before the step commits."""

    def __init__(self, inner: SagaHandler, step: int) -> None:
        self._inner = inner
        self._remaining = step

    async def __call__(self, envelope: Envelope) -> None:
        self._remaining -= 1
        if self._remaining == 0:
            raise Killed
        await self._inner(envelope)


async def run_saga_workers(
    application: Application, transport: Transport, die_at: dict[str, int]
) -> list[ConsumerLoop]:
    loops = []
    for saga in SAGAS:
        handler: Any = SagaHandler(application.engine, application.bus, saga, EVENTS)
        if saga.name in die_at:
            handler = DiesOnce(handler, die_at[saga.name])
        loop = ConsumerLoop(transport, saga.queue(), handler, is_transient=is_transient)
        await loop.start()
        loops.append(loop)
    return loops


async def invoiced(application: Application, group_id: UUID) -> list[Any]:
    async with application.engine.connect() as connection:
        query = select(invoices).where(invoices.c.group_id == group_id)
        return list((await connection.execute(query)).all())


async def test_a_saga_worker_dying_at_any_step_still_finishes_every_saga(
    application: Application, amqp_url: str
) -> None:
    # The split saga handles one message of the workflow, the invoice saga two.
    for die_at in ({"split": 1}, {"invoice": 1}, {"invoice": 2}):
        fam = await family(application.bus, "Ann", "Ben")
        transport = make_transport("amqp", amqp_url)
        async with read_side(application.engine, transport, (Role.DISPATCHER,)):
            crashed = await run_saga_workers(application, transport, die_at)
            await spend(application, fam, 1_000)
            await ask_for_invoice(application, fam)
            await asyncio.sleep(1)
            for loop in crashed:  # the dead worker's unacked message goes back to its queue
                await loop.stop()
            restarted = await run_saga_workers(application, transport, {})
            try:
                issued = await polled(partial(invoiced, application, fam.group_id))
            finally:
                for loop in restarted:
                    await loop.stop()
        assert len(issued) == 1, die_at


async def test_a_killed_saga_worker_process_is_replaced_without_loss(
    application: Application, database_url: str, amqp_url: str
) -> None:
    env = {**os.environ, "AEQUATIO_DATABASE_URL": database_url, "AEQUATIO_AMQP_URL": amqp_url}

    def worker() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "aequatio", "worker", "--role", "sagas"],
            cwd=REPOSITORY_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    families = [await family(application.bus, "Ann", "Ben") for _ in range(6)]
    transport = make_transport("amqp", amqp_url)
    async with read_side(application.engine, transport, (Role.DISPATCHER,)):
        first = worker()
        try:
            for fam in families:
                await spend(application, fam, 1_000)
                await ask_for_invoice(application, fam)
            await asyncio.sleep(0.3)
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        finally:
            if first.poll() is None:
                first.kill()
        second = worker()
        try:
            for fam in families:
                assert len(await polled(partial(invoiced, application, fam.group_id))) == 1
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=30) == 0


async def test_a_split_that_never_completes_times_out_and_is_released(
    application: Application,
) -> None:
    fam = await family(application.bus, "Ann", "Ben")
    saga = InvoiceSaga(timeout=timedelta(seconds=0))
    handler = SagaHandler(application.engine, application.bus, saga, EVENTS)
    await ask_for_invoice(application, fam)
    async with application.engine.connect() as connection:
        (requested,) = [
            envelope_of(r)
            for r in await connection.execute(
                select(events_store).where(events_store.c.event_type == "split.requested")
            )
        ]
    await handler(requested)  # no split saga runs here: the split stays pending

    fired = await TimeoutSweeper(application.engine, application.bus, [saga]).sweep()

    assert fired == 1
    (split,) = await rows(application, splits)
    assert (split.status, split.failure_code) == ("failed", "SPLIT_TIMED_OUT")
    (state,) = [r for r in await rows(application, saga_states) if r.saga == "invoice"]
    assert (state.status, state.deadline) == ("timed_out", None)
    await ask_for_invoice(application, fam)  # released: a new request is accepted
    assert len(await rows(application, splits)) == 2

"""The outbox dispatcher publishes every committed event, in order, confirmed, exactly once
marked; it wakes on NOTIFY, keeps refused events, prunes, and hands over to a standby.

It pipelines its batches: the next batch is claimed and published while the previous one's
confirms are outstanding. A batch in flight is never claimed again, at most two are in flight,
a row committed late with a lower position is still published, publishes follow the outbox
order across batches, and refused rows still back off row by row."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import date, timedelta

from sqlalchemy import func, select, text, update

from aequatio.application import commands
from aequatio.bootstrap import Application, bootstrap
from aequatio.config import Settings
from aequatio.outbox.dispatcher import DispatcherSettings
from aequatio.outbox.messages import OutboundMessage, PublishOutcome
from aequatio.outbox.topology import Queue, Topology
from aequatio.outbox.transport import Consumer, DeliveryHandler, Transport
from aequatio.persistence.tables import events_outbox, events_store
from aequatio.persistence.unit_of_work import SqlUnitOfWork
from tests.support.family import Family, family
from tests.support.recording import dispatching, eventually, recording


def everything() -> Queue:
    return Queue(f"test.everything-{uuid.uuid4().hex[:8]}", ("#",))


async def watched_family(application: Application, transport: Transport) -> tuple[Queue, Family]:
    """A queue bound to every event, declared, and a family of two (positions 1 to 4)."""
    queue = everything()
    await transport.declare(Topology().with_queues(queue))
    return queue, await family(application.bus, "Ann", "Ben")


async def stored_event_ids(application: Application) -> list[uuid.UUID]:
    async with application.engine.connect() as connection:
        rows = await connection.execute(
            select(events_store.c.event_id).order_by(events_store.c.position)
        )
        return list(rows.scalars())


async def unpublished(application: Application) -> int:
    async with application.engine.connect() as connection:
        query = select(func.count()).where(events_outbox.c.published_at.is_(None))
        return int((await connection.execute(query)).scalar_one())


async def spend(
    application: Application, fam: Family, cents: int, day: date = date(2026, 1, 5)
) -> None:
    await application.bus.handle(
        commands.AddExpense(
            group_id=fam.group_id,
            amount_cents=cents,
            currency="EUR",
            description="shopping",
            incurred_on=day,
        ),
        fam.owner.principal,
    )


async def test_every_committed_event_is_published_in_order_then_marked(
    application: Application, transport: Transport
) -> None:
    queue, fam = await watched_family(application, transport)
    for cents in range(100, 110):
        await spend(application, fam, cents)
    expected = await stored_event_ids(application)

    async with (
        recording(transport, queue) as recorder,
        dispatching(application.engine, transport),
    ):
        await recorder.wait_for(lambda got: len(got) >= len(expected))

    assert [envelope.event_id for envelope in recorder.envelopes] == expected
    assert await unpublished(application) == 0


async def test_a_commit_wakes_the_dispatcher_long_before_the_poll_interval(
    application: Application, transport: Transport
) -> None:
    queue, fam = await watched_family(application, transport)
    settings = DispatcherSettings(poll_interval=60)
    async with (
        recording(transport, queue) as recorder,
        dispatching(application.engine, transport, settings),
    ):
        await recorder.wait_for(lambda got: len(got) == 4)
        await spend(application, fam, 1234)
        await recorder.wait_for(lambda got: len(got) == 5, within=5)
    assert recorder.envelopes[-1].payload["amount_cents"] == 1234


async def test_an_unroutable_event_stays_in_the_outbox_and_is_counted(
    application: Application, transport: Transport
) -> None:
    await transport.declare(Topology())  # exchanges only: nothing is bound
    await family(application.bus, "Ann")
    async with dispatching(application.engine, transport) as dispatcher:
        await eventually(lambda: dispatcher.counts["unroutable"] >= 1)
    assert dispatcher.counts["published"] == 0
    async with application.engine.connect() as connection:
        row = (await connection.execute(select(events_outbox))).first()
    assert row is not None
    assert (row.published_at, row.last_error) == (None, "unroutable")
    assert row.next_attempt_at is not None


async def test_a_standby_takes_over_when_the_active_dispatcher_dies(
    application: Application, database_url: str, transport: Transport
) -> None:
    queue, fam = await watched_family(application, transport)
    other = bootstrap(Settings(), database_url=database_url)
    fast = DispatcherSettings(standby_interval=0.2, poll_interval=0.2)
    try:
        async with (
            recording(transport, queue) as recorder,
            dispatching(application.engine, transport, fast) as first,
        ):
            await recorder.wait_for(lambda got: len(got) == 4)
            async with dispatching(other.engine, transport, fast) as second:
                await asyncio.sleep(0.5)
                assert (first.is_leader, second.is_leader) == (True, False)
                # The active dispatcher's process dies: its database session ends.
                async with other.engine.connect() as admin:
                    await admin.execute(
                        text(
                            "SELECT pg_terminate_backend(pid) FROM pg_locks "
                            "WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid() "
                            # Only this test's database: others run their own dispatchers.
                            "AND database = (SELECT oid FROM pg_database "
                            "WHERE datname = current_database())"
                        )
                    )
                    await admin.commit()
                await eventually(lambda: second.is_leader, within=5)
                await first.stop()
                await spend(application, fam, 777)
                await recorder.wait_for(lambda got: len(got) == 5, within=5)
    finally:
        await other.aclose()


async def test_published_rows_past_retention_are_pruned(
    application: Application, transport: Transport
) -> None:
    queue, _ = await watched_family(application, transport)
    settings = DispatcherSettings(retention=timedelta(hours=1))
    async with recording(transport, queue) as recorder:
        async with dispatching(application.engine, transport, settings) as dispatcher:
            await recorder.wait_for(lambda got: len(got) == 4)
        async with application.engine.begin() as connection:
            await connection.execute(
                update(events_outbox)
                .where(events_outbox.c.position <= 2)
                .values(published_at=func.now() - timedelta(hours=2))
            )
        assert await dispatcher.prune() == 2
    async with application.engine.connect() as connection:
        left = (await connection.execute(select(events_outbox.c.position))).scalars().all()
    assert sorted(left) == [3, 4]
    assert len(await stored_event_ids(application)) == 4


class SlowCommit(SqlUnitOfWork):
    """A writer that holds its transaction open (its event positions are already taken)."""

    release: asyncio.Event

    async def _commit(self) -> None:
        await self.release.wait()
        await super()._commit()


async def test_an_event_committed_late_with_an_earlier_position_is_not_skipped(
    application: Application, database_url: str, transport: Transport
) -> None:
    queue, fam = await watched_family(application, transport)
    SlowCommit.release = asyncio.Event()
    slow = bootstrap(Settings(), database_url=database_url, uow_class=SlowCommit)
    try:
        async with (
            recording(transport, queue) as recorder,
            dispatching(application.engine, transport, DispatcherSettings(poll_interval=0.1)),
        ):
            await recorder.wait_for(lambda got: len(got) == 4)
            late = asyncio.create_task(spend(slow, fam, 111))
            await asyncio.sleep(0.3)  # the slow writer has inserted its event, not committed
            # Another month: writers of one month queue behind each other's ledger row.
            await spend(application, fam, 222, date(2026, 2, 5))
            await recorder.wait_for(lambda got: len(got) == 5)
            SlowCommit.release.set()
            await late
            await recorder.wait_for(lambda got: len(got) == 6)
    finally:
        await slow.aclose()
    amounts = [envelope.payload.get("amount_cents") for envelope in recorder.envelopes[4:]]
    assert amounts == [222, 111]
    assert await unpublished(application) == 0


# -- pipelined batches -----------------------------------------------------------------------------


class Held(Transport):
    """Delegates to ``inner``; records each publish call and, while ``holding``, keeps its
    outcomes (the broker answered) until released: to the dispatcher its confirms are still
    outstanding."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.holding = False
        #: The event ids of each publish call, in call order, with its gate.
        self.calls: list[list[uuid.UUID]] = []
        self.gates: list[asyncio.Event] = []

    async def publish(self, messages: Sequence[OutboundMessage]) -> list[PublishOutcome]:
        gate = asyncio.Event()
        if not self.holding:
            gate.set()
        self.calls.append([uuid.UUID(message.message_id) for message in messages])
        self.gates.append(gate)
        outcomes = await self.inner.publish(messages)
        await gate.wait()
        return outcomes

    def release(self, call: int) -> None:
        self.gates[call].set()

    def release_all(self) -> None:
        self.holding = False
        for gate in self.gates:
            gate.set()

    async def calls_made(self, count: int) -> None:
        await eventually(lambda: len(self.calls) >= count)

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    async def declare(self, topology: Topology) -> None:
        await self.inner.declare(topology)

    async def consume(self, queue: str, handler: DeliveryHandler, *, prefetch: int) -> Consumer:
        return await self.inner.consume(queue, handler, prefetch=prefetch)

    async def temporary_queue(self, patterns: Sequence[str]) -> str:
        return await self.inner.temporary_queue(patterns)

    @property
    def connected(self) -> bool:
        return self.inner.connected


async def positions_of(application: Application) -> dict[uuid.UUID, int]:
    async with application.engine.connect() as connection:
        rows = await connection.execute(select(events_store.c.event_id, events_store.c.position))
        return {row.event_id: row.position for row in rows}


def times_published(held: Held) -> Counter[uuid.UUID]:
    return Counter(event_id for call in held.calls for event_id in call)


async def test_a_batch_in_flight_is_not_claimed_again_and_two_at_most_are_in_flight(
    application: Application, transport: Transport
) -> None:
    queue, fam = await watched_family(application, transport)  # positions 1 to 4
    for cents in range(100, 104):
        await spend(application, fam, cents)  # 5 to 8
    held = Held(transport)
    held.holding = True
    positions = await positions_of(application)
    async with (
        recording(transport, queue) as recorder,
        dispatching(application.engine, held, DispatcherSettings(batch_size=2)),
    ):
        try:
            await held.calls_made(2)
            await asyncio.sleep(0.3)
            # Two batches in flight, their confirms outstanding: no third claim yet.
            assert [[positions[e] for e in call] for call in held.calls] == [[1, 2], [3, 4]]
            held.release(0)
            await held.calls_made(3)
            await asyncio.sleep(0.3)
            # The first is marked; the next claim leaves out the second, still in flight.
            assert [positions[e] for e in held.calls[2]] == [5, 6]
            assert len(held.calls) == 3
            held.release_all()
            await recorder.wait_for(lambda got: len(got) >= 8)
        finally:
            held.release_all()
    assert [envelope.event_id for envelope in recorder.envelopes] == await stored_event_ids(
        application
    )
    assert set(times_published(held).values()) == {1}
    assert await unpublished(application) == 0


async def test_a_row_committed_late_below_a_batch_in_flight_is_published(
    application: Application, database_url: str, transport: Transport
) -> None:
    queue, fam = await watched_family(application, transport)
    SlowCommit.release = asyncio.Event()
    slow = bootstrap(Settings(), database_url=database_url, uow_class=SlowCommit)
    held = Held(transport)
    settings = DispatcherSettings(batch_size=2, poll_interval=0.1)
    try:
        async with recording(transport, queue) as recorder:
            async with dispatching(application.engine, held, settings):
                await recorder.wait_for(lambda got: len(got) == 4)
            late = asyncio.create_task(spend(slow, fam, 111))
            await asyncio.sleep(0.3)  # the slow writer took position 5, not committed yet
            # Other months: writers of one month queue behind each other's ledger row.
            for month in range(2, 6):
                await spend(application, fam, 200 + month, date(2026, month, 5))  # 6 to 9
            held.holding = True
            before = len(held.calls)
            async with dispatching(application.engine, held, settings):
                try:
                    await held.calls_made(before + 2)  # [6, 7] and [8, 9] in flight
                    SlowCommit.release.set()
                    await late  # position 5 is committed now, below both batches
                    held.release(before)  # [6, 7] is marked; [8, 9] stays in flight
                    await held.calls_made(before + 3)
                    await asyncio.sleep(0.3)
                    assert len(held.calls) == before + 3
                    held.release_all()
                    await recorder.wait_for(lambda got: len(got) == 9)
                finally:
                    held.release_all()
    finally:
        SlowCommit.release.set()
        await slow.aclose()
    positions = await positions_of(application)
    assert [[positions[e] for e in call] for call in held.calls[before:]] == [
        [6, 7],
        [8, 9],
        [5],
    ]
    amounts = [envelope.payload.get("amount_cents") for envelope in recorder.envelopes[4:]]
    assert amounts == [202, 203, 204, 205, 111]
    assert set(times_published(held).values()) == {1}
    assert await unpublished(application) == 0


async def test_publishes_follow_the_outbox_order_across_overlapping_batches(
    application: Application, transport: Transport
) -> None:
    queue, fam = await watched_family(application, transport)
    for cents in range(100, 130):
        await spend(application, fam, cents)
    expected = await stored_event_ids(application)
    async with (
        recording(transport, queue) as recorder,
        dispatching(application.engine, transport, DispatcherSettings(batch_size=3)) as running,
    ):
        await recorder.wait_for(lambda got: len(got) >= len(expected))
    assert [envelope.event_id for envelope in recorder.envelopes] == expected
    assert running.counts["published"] == len(expected)
    assert await unpublished(application) == 0


async def test_refused_rows_of_pipelined_batches_back_off_row_by_row(
    application: Application, transport: Transport
) -> None:
    # Only expense events are routed: the family's events (positions 1 to 4) are unroutable.
    queue = Queue(f"test.expenses-{uuid.uuid4().hex[:8]}", ("expenses.#",))
    await transport.declare(Topology().with_queues(queue))
    fam = await family(application.bus, "Ann", "Ben")
    for cents in range(100, 106):
        await spend(application, fam, cents)  # 5 to 10
    settings = DispatcherSettings(batch_size=3, row_retry_base=timedelta(minutes=1))
    async with (
        recording(transport, queue) as recorder,
        dispatching(application.engine, transport, settings) as running,
    ):
        await recorder.wait_for(lambda got: len(got) >= 6)
        await eventually(lambda: running.counts["unroutable"] >= 4)
        await asyncio.sleep(0.3)  # long enough for a retry, had the backoff been lost
    assert [envelope.payload["amount_cents"] for envelope in recorder.envelopes] == list(
        range(100, 106)
    )
    assert (running.counts["published"], running.counts["unroutable"]) == (6, 4)
    async with application.engine.connect() as connection:
        rows = (
            await connection.execute(
                select(
                    events_outbox.c.position,
                    events_outbox.c.published_at.is_(None),
                    events_outbox.c.attempts,
                    events_outbox.c.last_error,
                    events_outbox.c.next_attempt_at > func.now(),
                ).order_by(events_outbox.c.position)
            )
        ).all()
    assert [tuple(row) for row in rows[:4]] == [
        (position, True, 1, "unroutable", True) for position in range(1, 5)
    ]
    assert [tuple(row) for row in rows[4:]] == [
        (position, False, 1, None, None) for position in range(5, 11)
    ]

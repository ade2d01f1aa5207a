"""The outbox dispatcher publishes every committed event, in order, confirmed, exactly once
marked; it wakes on NOTIFY, keeps refused events, prunes, and hands over to a standby."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta

from sqlalchemy import func, select, text, update

from aequatio.application import commands
from aequatio.bootstrap import Application, bootstrap
from aequatio.config import Settings
from aequatio.outbox.dispatcher import DispatcherSettings
from aequatio.outbox.topology import Queue, Topology
from aequatio.outbox.transport import Transport
from aequatio.persistence.tables import events_outbox, events_store
from aequatio.persistence.unit_of_work import SqlUnitOfWork
from tests.support.family import Family, family
from tests.support.recording import dispatching, eventually, recording


def everything() -> Queue:
    return Queue(f"test.everything-{uuid.uuid4().hex[:8]}", ("#",))


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
    queue = everything()
    await transport.declare(Topology().with_queues(queue))
    fam = await family(application.bus, "Ann", "Ben")
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
    queue = everything()
    await transport.declare(Topology().with_queues(queue))
    fam = await family(application.bus, "Ann", "Ben")
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
    queue = everything()
    await transport.declare(Topology().with_queues(queue))
    fam = await family(application.bus, "Ann", "Ben")
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
    queue = everything()
    await transport.declare(Topology().with_queues(queue))
    await family(application.bus, "Ann", "Ben")
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
    queue = everything()
    await transport.declare(Topology().with_queues(queue))
    fam = await family(application.bus, "Ann", "Ben")
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

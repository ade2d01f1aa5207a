"""The outbox under a long stream of events stays small, and the relay keeps using its index.

Events are appended in bulk, straight through the event store's own ``append`` (the statement
every command uses: the event and its outbox row), as clones of a real ``user.registered``
event — 2,000 in the short run (the consumers, not the outbox, bound how many fit in the
suite's minutes), 1,000,000 in the soak — while real commands keep trickling
in through the bus. The dispatcher publishes them with a short retention, so published rows
are pruned as it goes. Sampled all along, the outbox never holds more than a fixed number of
rows, however many events passed through it; and ``EXPLAIN`` of the dispatcher's own claim
query (captured as it ran) reads the partial index of unpublished rows
(``ix_events_outbox_unpublished``). In the end every event was applied exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from aequatio.application.ids import new_id
from aequatio.bootstrap import Application
from aequatio.events.envelope import Envelope
from aequatio.outbox.amqp import AmqpTransport
from aequatio.outbox.dispatcher import CLAIM_PLANNING, DispatcherSettings
from aequatio.persistence.event_store import append, envelope_of
from aequatio.persistence.tables import events_store
from aequatio.workers import Role
from tests.support.faultcheck import assert_consistent, queue_depths, unpublished
from tests.support.faultload import Ledger
from tests.support.faultscale import scaled
from tests.support.maintenance import maintain_like_autovacuum
from tests.support.readside import read_side

EVENTS = scaled(2_000, 1_000_000)
CHUNK = 1_000
#: The producer waits while more are unpublished, or more wait in a queue (back-pressure:
#: the subject is the outbox, not how deep a queue may grow on a shared broker).
UNPUBLISHED_AT_MOST = 3_000
QUEUED_AT_MOST = 20_000
#: Published rows live this long before the dispatcher prunes them.
RETENTION = timedelta(seconds=1)
SETTINGS = DispatcherSettings(
    batch_size=500, poll_interval=0.2, standby_interval=0.2, retention=RETENTION, prune_every=0.5
)
#: What the outbox may hold at any moment: the unpublished rows allowed, a chunk on top, and
#: the published rows of a few seconds (retention and pruning period) at ~4,000 events/s.
BOUND = UNPUBLISHED_AT_MOST + CHUNK + 8_000
INDEX = "ix_events_outbox_unpublished"
ALL_ROLES = (Role.DISPATCHER, Role.PROJECTIONS, Role.SAGAS)

pytestmark = pytest.mark.timeout(scaled(180, 12 * 3600))


@dataclass
class Samples:
    rows: list[int] = field(default_factory=list)
    bytes: list[int] = field(default_factory=list)


class ClaimQuery:
    """Captures the dispatcher's claim statement (and its parameters) as it runs."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.statement: str | None = None
        self.parameters: Any = None
        self._engine = engine.sync_engine
        event.listen(self._engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if (
            self.statement is None
            and "events_outbox.published_at IS NULL" in statement
            and "LIMIT" in statement
        ):
            self.statement, self.parameters = statement, parameters

    def close(self) -> None:
        event.remove(self._engine, "before_cursor_execute", self._seen)


async def plan(engine: AsyncEngine, claim: ClaimQuery) -> dict[str, Any]:
    assert claim.statement is not None, "the dispatcher's claim query was never seen"
    async with engine.connect() as connection:
        await connection.execute(text("ANALYZE events_outbox"))
        await connection.execute(text("ANALYZE events_store"))
        await connection.execute(CLAIM_PLANNING)  # planned as the dispatcher plans it
        raw = await connection.exec_driver_sql(
            f"EXPLAIN (FORMAT JSON) {claim.statement}", claim.parameters
        )
        explained = raw.scalar_one()
    document = json.loads(explained) if isinstance(explained, str) else explained
    return dict(document[0]["Plan"])


def uses_index(node: dict[str, Any], name: str) -> bool:
    if node.get("Index Name") == name:
        return True
    return any(uses_index(child, name) for child in node.get("Plans", []))


async def template(engine: AsyncEngine) -> Envelope:
    """A real ``user.registered`` event, as the bus stored it."""
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                select(events_store).where(events_store.c.event_type == "user.registered").limit(1)
            )
        ).one()
    return envelope_of(row)


def clone(original: Envelope, n: int) -> Envelope:
    """Another registration, with ids made as the command bus makes them."""
    user_id = new_id()
    subject = f"soak-{n}-{user_id.hex[:8]}"
    payload = {
        **original.payload,
        "user_id": str(user_id),
        "subject": subject,
        "name": f"Soak {n}",
        "email": f"{subject}@example.org",
    }
    return original.model_copy(
        update={
            "event_id": new_id(),
            "aggregate_id": user_id,
            "occurred_at": datetime.now(UTC),
            "correlation_id": uuid.uuid4(),
            "causation_id": None,
            "trace_id": None,
            "traceparent": None,
            "actor": subject,
            "payload": payload,
        }
    )


async def produce(engine: AsyncEngine, amqp_url: str, original: Envelope) -> None:
    made = 0
    while made < EVENTS:
        while await unpublished(engine) > UNPUBLISHED_AT_MOST or any(  # noqa: ASYNC110 - polls
            ready > QUEUED_AT_MOST for ready, _ in (await queue_depths(amqp_url)).values()
        ):
            await asyncio.sleep(0.1)
        size = min(CHUNK, EVENTS - made)
        async with engine.begin() as connection:
            await append(connection, [clone(original, made + n) for n in range(size)])
        made += size


async def sample(engine: AsyncEngine, samples: Samples, stop: asyncio.Event) -> None:
    query = text("SELECT count(*), pg_total_relation_size('events_outbox') FROM events_outbox")
    while not stop.is_set():
        async with engine.connect() as connection:
            rows, size = (await connection.execute(query)).one()
        samples.rows.append(int(rows))
        samples.bytes.append(int(size))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.2)


async def trickle(ledger: Ledger, stop: asyncio.Event) -> None:
    """Real commands (expenses, invoices, so both sagas) alongside the bulk."""
    while not stop.is_set():
        await ledger.commit(5)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


async def test_the_outbox_stays_bounded_and_the_claim_uses_the_partial_index(
    application: Application, amqp_url: str, rng: random.Random
) -> None:
    engine = application.engine
    ledger = await Ledger.open(application, rng)
    original = await template(engine)
    samples = Samples()
    stop = asyncio.Event()
    claim = ClaimQuery(engine)
    started = asyncio.get_running_loop().time()
    try:
        async with read_side(
            engine, AmqpTransport(amqp_url), ALL_ROLES, SETTINGS, bus=application.bus
        ):
            background = [
                asyncio.create_task(sample(engine, samples, stop)),
                asyncio.create_task(trickle(ledger, stop)),
                asyncio.create_task(maintain_like_autovacuum(engine, stop)),
            ]
            try:
                await produce(engine, amqp_url, original)
                mid_run = await plan(engine, claim)  # with a backlog and published rows
            finally:
                stop.set()
                await asyncio.gather(*background)
            took = asyncio.get_running_loop().time() - started
            await assert_consistent(engine, amqp_url=amqp_url, within=scaled(90, 3 * 3600))
    finally:
        claim.close()
    print(
        f"{EVENTS} bulk events + {ledger.committed} from commands in {took:.0f}s; outbox rows "
        f"at most {max(samples.rows)} (bound {BOUND}) over {len(samples.rows)} samples, "
        f"at most {max(samples.bytes) // 1024} KiB"
    )
    assert max(samples.rows) <= BOUND, f"the outbox grew to {max(samples.rows)} rows"
    assert uses_index(mid_run, INDEX), f"the claim query does not use {INDEX}: {mid_run}"
    assert uses_index(await plan(engine, claim), INDEX), "nor once drained"

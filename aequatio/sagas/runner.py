"""Running a saga: one transaction per step, never a half-done step.

For each event: the tracking row (a redelivery is skipped), the saga state locked, the policy's
decision, its commands run through the command bus *inside this transaction* (each in a
savepoint, so a refused command is rolled back alone and reported to the saga), the new state
written — then one COMMIT. The commands' events land in the outbox with that commit, caused by
the saga's event and in its correlation. A sweeper does the same for sagas whose deadline
passed (their timeout is a step like any other).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from aequatio.application.bus import MessageBus
from aequatio.application.context import CommandContext, Principal
from aequatio.domain.errors import DomainError
from aequatio.events.base import EventPayload
from aequatio.events.envelope import Envelope
from aequatio.events.registry import EventRegistry
from aequatio.observability.tracing import span
from aequatio.persistence.tables import saga_states
from aequatio.persistence.unit_of_work import SqlUnitOfWork
from aequatio.projections.runner import apply_once
from aequatio.sagas.base import Decision, Saga, SagaState

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


async def load_state(connection: AsyncConnection, saga: Saga, key: str) -> SagaState | None:
    """The saga instance's state, locked for this transaction (even before it exists: two
    events of one instance never decide side by side)."""
    await connection.execute(
        select(func.pg_advisory_xact_lock(func.hashtextextended(f"{saga.name}\x1f{key}", 0)))
    )
    row = (
        await connection.execute(
            select(saga_states)
            .where(saga_states.c.saga == saga.name, saga_states.c.key == key)
            .with_for_update()
        )
    ).first()
    if row is None:
        return None
    return SagaState(
        key=row.key, status=row.status, data=row.data, version=row.version, deadline=row.deadline
    )


async def save_state(connection: AsyncConnection, saga: Saga, state: SagaState) -> None:
    values: dict[str, Any] = {
        "saga": saga.name,
        "key": state.key,
        "status": state.status,
        "data": state.data,
        "version": state.version + 1,
        "deadline": state.deadline,
        "updated_at": func.now(),
    }
    upsert = pg_insert(saga_states).values(values)
    await connection.execute(
        upsert.on_conflict_do_update(
            index_elements=["saga", "key"],
            set_={name: upsert.excluded[name] for name in values if name not in ("saga", "key")},
        )
    )


class SagaStep:
    """Carries out one decision of one saga inside the caller's transaction."""

    def __init__(self, engine: AsyncEngine, bus: MessageBus, saga: Saga, clock: Clock) -> None:
        self._engine = engine
        self._bus = bus
        self._saga = saga
        self._clock = clock
        self._principal = Principal.system_process(saga.consumer)

    async def run(
        self, connection: AsyncConnection, decision: Decision, cause: Envelope | None
    ) -> None:
        if decision.state is None:
            return
        new_state = decision.state
        now = self._clock()
        for command in decision.commands:
            try:
                # The command's span is a child of the current (saga step) span.
                result = await self._bus.handle(
                    command,
                    self._principal,
                    correlation_id=cause.correlation_id if cause else None,
                    causation_id=cause.event_id if cause else None,
                    unit_of_work=lambda context: self._unit_of_work(context, connection),
                )
            except DomainError as error:
                log.warning(
                    "%s: %s refused: %r", self._saga.consumer, type(command).__name__, error
                )
                new_state = self._saga.on_refused(new_state, command, error)
                break
            new_state = self._saga.on_result(new_state, command, result, now)
        await save_state(connection, self._saga, new_state)

    def _unit_of_work(self, context: CommandContext, connection: AsyncConnection) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._engine, context, within=connection)


class SagaHandler:
    """The consumer-loop handler of one saga."""

    def __init__(
        self,
        engine: AsyncEngine,
        bus: MessageBus,
        saga: Saga,
        registry: EventRegistry,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self._engine = engine
        self._saga = saga
        self._registry = registry
        self._clock = clock
        self._step = SagaStep(engine, bus, saga, clock)

    async def __call__(self, envelope: Envelope) -> bool:
        with span(f"saga {self._saga.name}"):
            async with self._engine.begin() as connection:
                return await apply_once(
                    connection, self._saga.consumer, envelope, self._registry, self._effect
                )

    async def _effect(
        self, connection: AsyncConnection, envelope: Envelope, payload: EventPayload
    ) -> None:
        key = self._saga.key(envelope, payload)
        if key is None:
            return
        state = await load_state(connection, self._saga, key)
        decision = self._saga.on_event(state, envelope, payload, self._clock())
        await self._step.run(connection, decision, envelope)


class TimeoutSweeper:
    """Fires the timeouts of sagas whose deadline passed (one transaction per saga)."""

    def __init__(
        self,
        engine: AsyncEngine,
        bus: MessageBus,
        sagas: list[Saga],
        *,
        clock: Clock = utc_now,
        every: timedelta = timedelta(seconds=5),
    ) -> None:
        self._engine = engine
        self._sagas = {saga.name: saga for saga in sagas}
        self._steps = {saga.name: SagaStep(engine, bus, saga, clock) for saga in sagas}
        self._clock = clock
        self._every = every
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.sweep()
            except Exception:
                log.exception("saga timeout sweep failed; trying again later")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._every.total_seconds())

    async def stop(self) -> None:
        self._stopping.set()

    async def sweep(self) -> int:
        """Fire every due timeout; returns how many fired."""
        fired = 0
        while await self._fire_one():
            fired += 1
        return fired

    async def _fire_one(self) -> bool:
        async with self._engine.begin() as connection:
            row = (
                await connection.execute(
                    select(saga_states)
                    .where(
                        saga_states.c.deadline <= self._clock(),
                        saga_states.c.saga.in_(list(self._sagas)),
                    )
                    .order_by(saga_states.c.deadline)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
            ).first()
            if row is None:
                return False
            saga = self._sagas[row.saga]
            state = SagaState(row.key, row.status, row.data, row.version, row.deadline)
            decision = saga.on_timeout(state, self._clock())
            await self._steps[saga.name].run(connection, decision, None)
            return True

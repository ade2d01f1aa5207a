"""The PostgreSQL unit of work: one connection, one transaction per command."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction

from aequatio.application.context import CommandContext
from aequatio.application.results import CommandResult
from aequatio.application.unit_of_work import UnitOfWork
from aequatio.domain.aggregate import Aggregate
from aequatio.events.envelope import Envelope
from aequatio.observability.tracing import span
from aequatio.persistence import event_store
from aequatio.persistence.calendar import SqlCalendarRepository
from aequatio.persistence.concurrency import conflict_for
from aequatio.persistence.expenses import SqlExpenseRepository
from aequatio.persistence.groups import SqlGroupRepository
from aequatio.persistence.idempotency import SqlIdempotencyStore
from aequatio.persistence.invoices import SqlInvoiceRepository
from aequatio.persistence.splits import SqlSplitRepository
from aequatio.persistence.users import SqlUserRepository


class SqlUnitOfWork(UnitOfWork):
    """One connection and transaction per command; or, given ``within``, a savepoint in the
    caller's transaction (a saga step commits its state and its commands' writes together)."""

    def __init__(
        self,
        engine: AsyncEngine,
        context: CommandContext,
        *,
        within: AsyncConnection | None = None,
    ) -> None:
        super().__init__(context)
        self._engine = engine
        self._within = within
        self._savepoint: AsyncTransaction | None = None
        self._connection: AsyncConnection | None = None

    @property
    def connection(self) -> AsyncConnection:
        if self._connection is None:
            raise RuntimeError("the unit of work is not open")
        return self._connection

    async def _begin(self) -> None:
        if self._within is not None:
            self._connection = self._within
            self._savepoint = await self._within.begin_nested()
        else:
            self._connection = await self._engine.connect()
            await self._connection.begin()
        connection = self._connection
        self.users = SqlUserRepository(connection)
        self.groups = SqlGroupRepository(connection)
        self.expenses = SqlExpenseRepository(connection)
        self.splits = SqlSplitRepository(connection)
        self.invoices = SqlInvoiceRepository(connection)
        self.calendar = SqlCalendarRepository(connection)
        self.idempotency = SqlIdempotencyStore(connection)

    async def commit(self, primary: Aggregate) -> CommandResult:
        try:
            with span("outbox write", attributes={"aequatio.aggregate": primary.aggregate_type}):
                return await super().commit(primary)
        except IntegrityError as error:
            conflict = conflict_for(error)
            if conflict is None:
                raise
            raise conflict from None

    async def _append(self, envelopes: list[Envelope]) -> None:
        await event_store.append(self.connection, envelopes)

    async def _commit(self) -> None:
        if self._savepoint is not None:
            await self._savepoint.commit()  # released; the caller's transaction commits it
        else:
            await self.connection.commit()

    async def _rollback(self) -> None:
        if self._savepoint is not None:
            if self._savepoint.is_active:
                await self._savepoint.rollback()
        elif self._connection is not None:
            await self._connection.rollback()

    async def _close(self) -> None:
        if self._connection is not None and self._within is None:
            await self._connection.close()
        self._connection = None

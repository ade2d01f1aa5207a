"""The unit of work: one transaction for aggregate rows, events, outbox and idempotency.

Nothing is written unless ``commit`` is called; leaving the block without it rolls back.
``commit`` harvests the events of every changed aggregate, saves the aggregates (version
checked), appends the events to the store and the outbox, remembers the idempotency key's
result, and commits — all or nothing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Any, Self

from aequatio.application.context import CommandContext
from aequatio.application.envelopes import envelope_for
from aequatio.application.ports import (
    CalendarRepository,
    ExpenseRepository,
    GroupRepository,
    IdempotencyClaim,
    IdempotencyStore,
    InvoiceRepository,
    Repository,
    SplitRepository,
    UserRepository,
)
from aequatio.application.results import CommandResult
from aequatio.domain.aggregate import Aggregate
from aequatio.events.envelope import Envelope


class UnitOfWork(ABC):
    users: UserRepository
    groups: GroupRepository
    expenses: ExpenseRepository
    splits: SplitRepository
    invoices: InvoiceRepository
    calendar: CalendarRepository
    idempotency: IdempotencyStore

    def __init__(self, context: CommandContext) -> None:
        self.context = context
        self.claim: IdempotencyClaim | None = None
        self.written: list[Envelope] = []
        self._committed = False

    async def __aenter__(self) -> Self:
        await self._begin()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self._committed:
            await self._rollback()
        await self._close()

    def _repositories(self) -> list[Repository[Any]]:
        """In foreign-key order: users before groups before expenses, splits, invoices."""
        return [self.users, self.groups, self.expenses, self.splits, self.invoices]

    async def commit(self, primary: Aggregate) -> CommandResult:
        """Write everything in one transaction; the result names ``primary`` and all events."""
        changed = [a for repo in self._repositories() for a in repo.changed()]
        envelopes = [
            envelope_for(record, self.context)
            for aggregate in changed
            for record in aggregate.collect_events()
        ]
        for repository in self._repositories():
            await repository.save_changes()
        await self.calendar.save_changes()
        await self._append(envelopes)
        result = CommandResult(
            aggregate_type=primary.aggregate_type,
            aggregate_id=primary.id,
            aggregate_version=primary.version,
            event_ids=tuple(envelope.event_id for envelope in envelopes),
            event_types=tuple(envelope.event_type for envelope in envelopes),
        )
        if self.claim is not None:
            await self.idempotency.remember(self.claim, result)
        await self._commit()
        self._committed = True
        for aggregate in changed:
            aggregate.stored_version = aggregate.version
        self.written = envelopes
        return result

    @abstractmethod
    async def _begin(self) -> None: ...

    @abstractmethod
    async def _append(self, envelopes: list[Envelope]) -> None:
        """Append to the event store and enqueue in the outbox (same transaction)."""

    @abstractmethod
    async def _commit(self) -> None: ...

    @abstractmethod
    async def _rollback(self) -> None: ...

    @abstractmethod
    async def _close(self) -> None:
        """Release the connection (after commit or rollback)."""

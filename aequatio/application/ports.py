"""The ports command handlers depend on: repositories, the period calendar, idempotency.

Each repository tracks the aggregates it hands out; the unit of work saves those that changed
(checking their stored version) together with their events. Adapters live in
``aequatio.persistence``; the unit tests' fakes subclass these same classes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar
from uuid import UUID

from aequatio.application.results import CommandResult
from aequatio.domain.aggregate import Aggregate
from aequatio.domain.calendar import Month, Period, PeriodCalendar
from aequatio.domain.expense import Expense
from aequatio.domain.group import Group
from aequatio.domain.invoice import Invoice
from aequatio.domain.ledger import Posting
from aequatio.domain.split import Split
from aequatio.domain.user import User

A = TypeVar("A", bound=Aggregate)


class LockMode(StrEnum):
    """Row locks taken when loading a group: expense changes share it, period closing owns it."""

    SHARE = "share"
    UPDATE = "update"


class Repository(ABC, Generic[A]):
    def __init__(self) -> None:
        self.seen: dict[UUID, A] = {}

    def _track(self, aggregate: A) -> A:
        self.seen[aggregate.id] = aggregate
        return aggregate

    def add(self, aggregate: A) -> None:
        self._track(aggregate)

    def changed(self) -> list[A]:
        return [a for a in self.seen.values() if a.version != a.stored_version]

    async def save_changes(self) -> None:
        """Write every changed aggregate; a stale stored version raises ``VERSION_CONFLICT``."""
        for aggregate in self.changed():
            await self._save(aggregate)

    @abstractmethod
    async def _save(self, aggregate: A) -> None: ...


class UserRepository(Repository[User]):
    @abstractmethod
    async def get(self, user_id: UUID) -> User | None: ...

    @abstractmethod
    async def get_by_subject(self, subject: str) -> User | None: ...

    @abstractmethod
    async def email_in_use(self, email: str) -> bool: ...

    @abstractmethod
    async def existing(self, user_ids: Iterable[UUID]) -> set[UUID]: ...


class GroupRepository(Repository[Group]):
    @abstractmethod
    async def get(self, group_id: UUID, *, lock: LockMode | None = None) -> Group | None: ...


class ExpenseRepository(Repository[Expense]):
    @abstractmethod
    async def get(self, expense_id: UUID) -> Expense | None: ...

    @abstractmethod
    async def postings_for(self, group_id: UUID, period: Period) -> list[tuple[UUID, Posting]]:
        """Every posting of the group's expenses (deleted ones included) in the period."""


class SplitRepository(Repository[Split]):
    @abstractmethod
    async def get(self, split_id: UUID) -> Split | None: ...

    @abstractmethod
    async def pending_for(self, group_id: UUID, period: Period) -> Split | None: ...

    @abstractmethod
    async def latest_completed(self, group_id: UUID, period: Period) -> Split | None: ...


class InvoiceRepository(Repository[Invoice]):
    @abstractmethod
    async def get(self, invoice_id: UUID) -> Invoice | None: ...

    @abstractmethod
    async def active_for(self, group_id: UUID, period: Period) -> Invoice | None:
        """The issued or paid invoice for exactly this period, if any."""


class CalendarRepository(ABC):
    """Closed months and ledger revisions per group; changes are written at commit."""

    def __init__(self) -> None:
        self.touched: dict[UUID, set[Month]] = {}
        self.closing: list[tuple[UUID, tuple[Month, ...], UUID]] = []
        self.reopening: list[tuple[UUID, UUID]] = []

    @abstractmethod
    async def load(self, group_id: UUID) -> PeriodCalendar: ...

    @abstractmethod
    async def closed_since(self, group_id: UUID, since: Month) -> PeriodCalendar:
        """Only the closed months from ``since`` on, without revisions: what booking a new
        expense asks (a group that invoices every month has few closed months ahead)."""

    def touch(self, group_id: UUID, months: Iterable[Month]) -> None:
        """Bump the revision of months whose ledger changed."""
        self.touched.setdefault(group_id, set()).update(months)

    def close(self, group_id: UUID, months: Iterable[Month], invoice_id: UUID) -> None:
        self.closing.append((group_id, tuple(months), invoice_id))

    def reopen(self, group_id: UUID, invoice_id: UUID) -> None:
        self.reopening.append((group_id, invoice_id))

    @abstractmethod
    async def save_changes(self) -> None: ...


@dataclass(frozen=True, slots=True)
class IdempotencyClaim:
    subject: str
    key: str
    command: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class StoredOutcome:
    command: str
    fingerprint: str
    result: CommandResult


class IdempotencyStore(ABC):
    @abstractmethod
    async def claim(self, subject: str, key: str) -> StoredOutcome | None:
        """The stored outcome for this key, after waiting out any concurrent holder of it."""

    @abstractmethod
    async def remember(self, claim: IdempotencyClaim, result: CommandResult) -> None: ...
